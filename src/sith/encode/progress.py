"""Per-rank progress files of an image-mean job: what is done, for which model and source.

After each unit a rank rewrites ``image_mean.progress/rank-{r}.pt`` (per-unit float64
sums, counts, skipped, and the model, precision, decode mode and source hash they belong
to) and a small ``rank-{r}.json`` the progress bar of rank 0 reads. A restarted job
(by hand, or by ``torchrun --max-restarts`` after a rank died) skips every unit any rank
recorded; files for another model, precision, decode mode or source are refused.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

from sith.errors import ConfigError, SithError
from sith.io import load_pt, save_json, save_pt
from sith.load.weights import ModelInfo

PROGRESS_FORMAT = "sith-image-mean-progress/1"


def progress_dir(target: Path) -> Path:
    """``image_mean.pt`` → ``image_mean.progress/`` (per-rank records of finished units)."""
    return target.with_name(target.stem + ".progress")


def progress_meta(info: ModelInfo, precision: str, digest: str, n_units: int, decode: str = "pil",
                  ) -> dict[str, Any]:
    """What a progress file must match to be resumed."""
    return {
        "model_name": info.model_name,
        "pretrained": info.pretrained,
        "model_fingerprint": info.fingerprint,
        "precision": precision,
        "source_hash": digest,
        "n_units": n_units,
        "decode": decode,
    }


def read_progress(folder: Path, meta: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Finished units ``{key: {"sum", "count", "skipped"}}`` of every rank's progress file.

    Raises:
        SithError: a file that is not ours, or one for another model, precision or source.
    """
    merged: dict[str, dict[str, Any]] = {}
    fix = f"delete {folder} or pass {{on}} to start over"
    for f in sorted(folder.glob("rank-*.pt")):
        data = load_pt(f, what="image-mean progress file")
        if not isinstance(data, dict) or data.get("format") != PROGRESS_FORMAT:
            raise ConfigError("restart", f"{f} is not a sith image-mean progress file; {fix}")
        found = data["meta"]
        if found.get("model_fingerprint") != meta["model_fingerprint"] or (
            found.get("model_name"), found.get("pretrained")) != (meta["model_name"], meta["pretrained"]):
            raise ConfigError(
                "restart",
                f"{f} was written by model {found.get('model_name')}/{found.get('pretrained')} "
                f"(fingerprint {found.get('model_fingerprint')}), not {meta['model_name']}/"
                f"{meta['pretrained']} ({meta['model_fingerprint']}); {fix}"
            )
        for key, what in (
            ("precision", "{name:precision}"), ("source_hash", "{name:images}"), ("decode", "{name:decode}")
        ):
            if found.get(key, "pil" if key == "decode" else None) != meta[key]:
                raise ConfigError(
                    "restart",
                    f"{f} was written with another {what} ({key} {found.get(key)!r}, now "
                    f"{meta[key]!r}); rerun with the same {what} or {fix}",
                )
        merged.update(data["units"])
    return merged


def write_progress(folder: Path, rank: int, meta: dict[str, Any], done: dict[str, Any],
                    images: int) -> None:
    save_pt({"format": PROGRESS_FORMAT, "meta": meta, "units": done}, folder / f"rank-{rank}.pt")
    save_json({"format": PROGRESS_FORMAT, "units": len(done), "images": images}, folder / f"rank-{rank}.json")


def others_images(folder: Path | None, rank: int) -> tuple[int, int]:
    """``(units, images)`` the other ranks report in their progress JSON (for the bar)."""
    units = images = 0
    if folder is None:
        return 0, 0
    for f in folder.glob("rank-*.json"):
        if f.stem == f"rank-{rank}":
            continue
        with contextlib.suppress(OSError, ValueError):
            rec = json.loads(f.read_text())
            units, images = units + int(rec["units"]), images + int(rec["images"])
    return units, images


def any_image(folder: Path, meta: dict[str, Any]) -> bool:
    """Whether any rank's progress file in ``folder`` records a readable image."""
    try:
        return any(int(r["count"]) > 0 for r in read_progress(folder, meta).values())
    except (SithError, KeyError, TypeError, ValueError):
        return True  # unsure: keep it
