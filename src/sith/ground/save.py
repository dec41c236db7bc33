"""Grounding files: one ``.pt`` per layer, a JSON summary, PNG grids (docs/grounding.md).

::

    data/models/{model}/{pretrained}/grounding/{source}/
    ├── layer-{l:02d}.pt        format "sith-grounding/1" (keys below)
    ├── summary.json            configuration + per component statistics and top image names
    └── grids/layer-{l:02d}_head-{h:02d}.png

Layer file keys: ``format``, ``layer``, ``config`` (model provenance, source, rank, k,
images seen and skipped, recipe), ``images`` (names, list), ``index`` ``(2, H, rank, k)``
into ``images`` (−1 = empty; sign 0 = largest activations first, 1 = most negative
first), ``values`` ``(2, H, rank, k)``, ``patches`` ``(2, H, rank, k, P)`` float16,
``patch_grid`` ``(gh, gw)``, ``singular_values``, ``mean``/``std``/``min``/``max``
``(H, rank)``; with ``keep_all``: ``activations`` ``(n, H, rank)``; for world images:
``labels`` (factor -> ``(n,)`` int64, image ``i`` is ``world:i``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from sith import __version__
from sith.errors import FormatError
from sith.ground.grids import write_grids
from sith.ground.run import Grounding
from sith.io import load_pt, save_json, save_pt
from sith.paths import model_dir, slug

FORMAT = "sith-grounding/1"
SUMMARY_FORMAT = FORMAT + "-summary"  # summary.json's tag (kept as first written: old summaries still load)
RECIPE = "s_i*<sum_t attn[cls,t]*xhat_t, u_i>, W = C diag(g1) W_V W_O C (docs/method.md 2)"


def grounding_dir(data_dir: str | Path, info: Any, source: str) -> Path:
    """``data/models/{model}/{pretrained}/grounding/{source}``."""
    return model_dir(data_dir, info.model_name, info.pretrained) / "grounding" / slug(source)


def config_of(g: Grounding) -> dict[str, Any]:
    return {
        "model": g.info.as_dict(),
        "source": g.source,
        "layers": g.layers,
        "rank": g.rank,
        "k": g.k,
        "images": g.count,
        "skipped": g.skipped,
        "fold_ln": True,
        "recipe": RECIPE,
        "seconds": round(g.seconds, 2),
        "sith_version": __version__,
    }


def layer_record(g: Grounding, layer: int) -> dict[str, Any]:
    """The ``.pt`` dict of one layer (module doc)."""
    tr = g.trackers[layer]
    used_t = tr.used_images()
    used = used_t.tolist()
    lut = torch.full((int(used_t.max()) + 1 if used else 1,), -1, dtype=torch.int64)
    lut[used_t] = torch.arange(len(used))
    index = torch.where(tr.index >= 0, lut[tr.index.clamp_min(0)], -1)
    rec: dict[str, Any] = {
        "format": FORMAT,
        "layer": layer,
        "config": config_of(g),
        "images": [g.names[i] for i in used],
        "index": index,
        "values": tr.values.clone(),
        "patches": tr.patches.clone(),
        "patch_grid": list(g.patch_grid),
        "singular_values": g.singular_values[layer],
        **tr.stats(),
    }
    if tr.keep_all:
        rec["activations"] = torch.cat(tr.all_values)
    if g.labels:
        rec["labels"] = {key: torch.from_numpy(v) for key, v in g.labels.items()}
    return rec


def summary(g: Grounding, files: dict[int, Path], top: int = 5) -> dict[str, Any]:
    """JSON summary: config, files, per layer/head/component statistics and top names."""
    layers = []
    for layer in g.layers:
        tr = g.trackers[layer]
        st = tr.stats()
        heads = []
        for h in range(tr.values.shape[1]):
            comps = []
            for i in range(g.rank):
                comps.append({
                    "index": i,
                    "singular_value": round(float(g.singular_values[layer][h, i]), 6),
                    **{key: round(float(st[key][h, i]), 6) for key in ("mean", "std", "min", "max")},
                    "top_positive": [g.names[int(j)] for j in tr.index[0, h, i, :top] if j >= 0],
                    "top_negative": [g.names[int(j)] for j in tr.index[1, h, i, :top] if j >= 0],
                })
            heads.append({"head": h, "components": comps})
        layers.append({"layer": layer, "file": files[layer].name, "heads": heads})
    return {"format": SUMMARY_FORMAT, "config": config_of(g), "layers": layers}


def save_grounding(g: Grounding, out_dir: str | Path, *, grids: bool = True) -> list[Path]:
    """Write the layer files, ``summary.json`` and (if ``grids``) the PNG grids; returns paths."""
    out = Path(out_dir)
    files = {layer: save_pt(layer_record(g, layer), out / f"layer-{layer:02d}.pt") for layer in g.layers}
    written = list(files.values())
    written.append(save_json(summary(g, files), out / "summary.json"))
    if grids and g.grid_components > 0:
        written.extend(write_grids(g, out / "grids"))
    return written


def load_grounding(path: str | Path) -> dict[str, Any]:
    """A layer file written by :func:`save_grounding`; SithError for anything else."""
    data = load_pt(path, what="grounding file")
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise FormatError(f"{path} is not a sith grounding file ({FORMAT}); rerun sith ground", path=path)
    return data
