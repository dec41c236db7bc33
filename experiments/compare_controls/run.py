"""Controls for ``sith compare`` on the organism (docs/grounding.md).

Three comparisons against the shipped organism ``v1``, all layers, rank = head width:

1. ``v1`` itself — must show no change at all;
2. ``v1`` after ``sith edit --suppress water,ocean`` — an exact reweighting (singular values
   set to 0 inside each edited head): ΔW must lie entirely inside the base subspaces, in
   exactly the edited heads, and its top directions should be explained by water/land words;
3. the same architecture with random weights (``none``) — unrelated: mostly new directions.

Writes ``results/controls.json``, ``results/controls.md`` and copies two heatmaps.
Run: ``OMP_NUM_THREADS=1 python experiments/compare_controls/run.py`` (about 1 minute).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "results"


def sith(*args: str, cwd: Path) -> None:
    subprocess.run([sys.executable, "-m", "sith", *args, "-q"], check=True, cwd=cwd,
                   stdout=subprocess.DEVNULL)


WORDS = ("water", "ocean", "lake", "pond", "sea", "land", "duck on water", "sparrow on water")


def null_hit_rate(data: str, n: int = 200, seed: int = 0) -> str:
    """The same "named water or land" test on ``n`` random centred residual directions explained
    exactly as ΔW's are (top 2 concepts of each polarity): the chance rate."""
    import torch

    from sith.decompose import solve
    from sith.encode import dictionary_atoms
    from sith.factor import joint_targets
    from sith.load import load_clip
    from sith.pipeline import Workspace

    clip = load_clip("sith-organism", "v1")
    pool = Workspace(clip, data_dir=data, progress=False).encoded("organism")
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, clip.weights.d_model, generator=g)
    x = x - x.mean(-1, keepdim=True)
    code = solve(joint_targets(clip.weights, torch.cat([x, -x]), None), dictionary_atoms(pool.embeddings), 5)
    names = [[pool.concepts[int(i)] for i, w in zip(code.indices[j], code.weights[j]) if w > 0][:2]
             for j in range(2 * n)]
    hits = sum(any(c in WORDS for c in names[j] + names[n + j]) for j in range(n))
    return f"{hits}/{n}"


def summarise(doc: dict, edited: set[tuple[int, int]] | None = None) -> dict:
    heads = [(x["layer"], h) for x in doc["layers"] for h in x["heads"]]
    moved = [(layer, h) for layer, h in heads if h["delta_rel_energy"] > 0]
    mean = lambda key, rows: round(sum(h[key] for _, h in rows) / max(len(rows), 1), 4)  # noqa: E731
    row = {
        "heads": len(heads),
        "heads_changed": len(moved),
        "mean_rel_energy_changed": mean("delta_rel_energy", moved),
        "mean_inside_both_changed": mean("inside_both", moved),
        "mean_new_directions_changed": mean("new_directions", moved),
        "mean_read_angle_mean": mean("read_angle_mean", heads),
        "mean_write_angle_mean": mean("write_angle_mean", heads),
        "mean_match_cos_v": mean("match_cos_v_mean", heads),
    }
    if edited is not None:
        row["changed_heads_equal_edited_heads"] = {(x, h["head"]) for x, h in moved} == edited
        top = [h["delta_explanations"][0] for _, h in moved]
        hits = sum(any(c in WORDS for c in e["+"]["concepts"][:2] + e["-"]["concepts"][:2]) for e in top)
        row["top_delta_named_water_or_land"] = f"{hits}/{len(top)}"
    return row


def main() -> None:
    OUT.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        data = str(t / "data")
        sith("edit", "--suppress", "water,ocean", "--output", str(t / "clean.safetensors"),
             "--data-dir", data, cwd=t)
        edits = json.loads((t / "clean.edit-log.json").read_text())["edits"]
        edited = {(e["layer"], e["head"]) for e in edits}
        rows = {}
        for name, tag, extra in (
            ("v1 vs v1", "v1", []),
            ("v1 vs v1 edited (suppress water, ocean)", str(t / "clean.safetensors"),
             ["--dictionary", "organism"]),
            ("v1 vs random init", "none", []),
        ):
            out = t / "cmp" / str(len(rows))
            sith("compare", "--tuned-pretrained", tag, "--data-dir", data, "--output-dir", str(out),
                 *extra, cwd=t)
            doc = json.loads((out / "compare.json").read_text())
            rows[name] = summarise(doc, edited if extra else None)
            if extra:
                for png in ("delta_rel_energy.png", "inside_both.png"):
                    shutil.copy(out / png, OUT / f"edited_{png}")
        rows["edited components"] = len(edits)
        rows["null: random directions named water or land"] = null_hit_rate(data)
    (OUT / "controls.json").write_text(json.dumps(rows, indent=2) + "\n")
    keys = [k for k in rows if isinstance(rows[k], dict)]
    cols = list(dict.fromkeys(c for k in keys for c in rows[k]))
    lines = ["| comparison | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for k in keys:
        lines.append(f"| {k} | " + " | ".join(str(rows[k].get(c, "")) for c in cols) + " |")
    null = rows["null: random directions named water or land"]
    (OUT / "controls.md").write_text("\n".join(lines) + f"\n\nedited components: {len(edits)}; "
                                     f"null (random directions named water or land): {null}\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
