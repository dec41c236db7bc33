"""How far could any edit lift the spurious worst group? A group-balanced linear probe (issue 12).

``sith experiment spurious`` zeroes components; an edit of that kind can remove what the model
reads from the background, but it cannot add what the model never learned about the birds. This
script measures how much duck-vs-sparrow information the image embedding holds once the
background is decorrelated: a logistic-regression probe on the normalised image embeddings,
trained on a **group-balanced** set (``spurious_groups``: each bird on each habitat equally
often; the idea of last-layer retraining on balanced data, "DFR", Kirichenko et al. 2022), and
scored per group on fresh images. It uses labels and images, which SITH does not; it is a
reference point, not a method we offer.

Reported per model, each on the same test images (3 seeds, not the experiments' seeds):

* ``zero-shot``: the experiment's own measure (organism prompts, no training);
* ``probe``: the balanced probe's per-group accuracy, worst group and average;
* controls: the probe with its training labels shuffled (5 permutations; a single permutation
  can land far from 0.5, since it may pair labels with groups by chance), and the same probe
  on the organism with an untrained vision tower (what an untrained tower's features carry);
* ``judged edit``: both measures after the experiment's judged edit (default embedding judge,
  components judged ≥ 3 for the background set to zero), so one sees whether the edit removed
  bird information or only background reliance.
* ``habitat oracle edit`` (added in stop 22 after the first three were measured, designed
  before it ran): the same number of components zeroed, but chosen with labels: the N
  analysed components whose activations separate water-like from land-like backgrounds best
  (largest |AUC − 0.5| over 2000 world images, image seed ``ORACLE_SEED``; any layer).
  The best a zeroing edit of that size can do when it knows where the background is: if it
  also stops short of +20, the zeroing edit itself is the limit, not the explanations.

Everything is fixed in the constants below, before any model was measured (stop 22); nothing is
tuned on the test images (probe C = 1.0, as where_factors_live.py).

    python experiments/organism/bird_ceiling.py [EXPORT] OUT.json [--data-dir DIR]

(EXPORT: an exported organism's ``.safetensors``; none = the shipped v1.)
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.linear_model import LogisticRegression

from sith.api import workspace
from sith.edit import ComponentEdit
from sith.experiments.controls import Condition, edited_model
from sith.experiments.runner import EditDesign, judged_conditions
from sith.experiments.setup import analyse, embedding_judge
from sith.experiments.spurious import GROUPS, UNRELATED, task_for, zero_rule
from sith.ground import grounded_auc
from sith.io import save_json
from sith.organism.grounded import world_activations
from sith.organism.nulls import untrained_vision
from sith.organism.world import spurious_groups
from sith.organism.zeroshot import loaded_encoders, spurious_group_accuracy

TRAIN_SEED = 301  # the probe's balanced training images
TEST_SEEDS = (311, 312, 313)  # its test images (the experiments use organism_seeds: 0, 1, 2)
N_TRAIN_PER_GROUP = 400
N_TEST_PER_GROUP = 200
PROBE_C = 1.0
ORACLE_SEED = 321  # the oracle's grounding images (not the probe's, not the test seeds)
ORACLE_IMAGES = 2000
N_SHUFFLES = 5  # label permutations of the control probe (seeds 0..4); its rows: seed-major


def embed(enc: object, n_per_group: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(z (4n, d) normalised embeddings, y (4n,) bird label, g (4n,) group index)``."""
    zs, ys, gs = [], [], []
    groups = spurious_groups(n_per_group, seed=seed, image_size=enc.image_size)
    for g, (name, batch) in enumerate(groups.items()):
        assert name == GROUPS[g]
        zs.append(F.normalize(enc.encode_image(torch.from_numpy(batch.images)), dim=-1).numpy())
        ys.append(batch.labels["bird"])
        gs.append(np.full(len(batch), g))
    return np.concatenate(zs), np.concatenate(ys), np.concatenate(gs)


def per_group(pred: np.ndarray, y: np.ndarray, g: np.ndarray) -> dict[str, float]:
    """Accuracy per group, their mean (``average``) and minimum (``worst_group``)."""
    out = {name: float((pred[g == i] == y[g == i]).mean()) for i, name in enumerate(GROUPS)}
    accs = list(out.values())
    return {**out, "average": float(np.mean(accs)), "worst_group": float(np.min(accs))}


def mean_over_seeds(rows: list[dict[str, float]]) -> dict[str, object]:
    return {k: {"mean": round(float(np.mean([r[k] for r in rows])), 4),
                "per_seed": [round(r[k], 4) for r in rows]} for k in rows[0]}


def measure(clip: object) -> dict[str, object]:
    """Zero-shot and probe (and its shuffled-label control) on the test seeds."""
    enc = loaded_encoders(clip)
    z, y, _ = embed(enc, N_TRAIN_PER_GROUP, TRAIN_SEED)
    probe = LogisticRegression(max_iter=5000, C=PROBE_C).fit(z, y)
    shuffled = [LogisticRegression(max_iter=5000, C=PROBE_C).fit(z, np.random.default_rng(p).permutation(y))
                for p in range(N_SHUFFLES)]
    rows: dict[str, list[dict[str, float]]] = {"zero_shot": [], "probe": [], "probe_shuffled_labels": []}
    for s in TEST_SEEDS:
        zt, yt, gt = embed(enc, N_TEST_PER_GROUP, s)
        zs = spurious_group_accuracy(enc, n_per_group=N_TEST_PER_GROUP, seed=s)
        rows["zero_shot"].append({k: zs[k] for k in (*GROUPS, "average", "worst_group")})
        rows["probe"].append(per_group(probe.predict(zt), yt, gt))
        rows["probe_shuffled_labels"] += [per_group(p.predict(zt), yt, gt) for p in shuffled]
    return {k: mean_over_seeds(v) for k, v in rows.items()}


def habitat_oracle(clip: object, analysis: object, n: int) -> tuple[Condition, list[dict]]:
    """Zero the ``n`` analysed components whose activation best separates water from land."""
    comps = analysis.components
    wa = world_activations(clip, analysis.layers, clip.weights.d_head, n_images=ORACLE_IMAGES,
                           seed=ORACLE_SEED)
    acts = wa.of([tuple(c) for c in comps])
    water = wa.labels["water"].astype(bool)
    aucs = [grounded_auc(acts[:, j], water) for j in range(len(comps))]
    order = sorted(range(len(comps)), key=lambda j: -abs(aucs[j] - 0.5))[:n]
    edits = tuple(ComponentEdit(*comps[j], 0.0, "habitat oracle") for j in order)
    chosen = [{"component": list(comps[j]), "water_auc": round(aucs[j], 4)} for j in order]
    return Condition("habitat-oracle", "oracle", edits), chosen


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("pretrained", nargs="?", default=None)
    ap.add_argument("out", type=Path)
    ap.add_argument("--data-dir", default="runs/bird-ceiling-data")
    args = ap.parse_args()
    torch.set_num_threads(1)
    ws = workspace(None, args.pretrained, data_dir=args.data_dir, progress=False)
    analysis = analyse(ws)
    conditions, _ = judged_conditions(
        analysis, embedding_judge(ws.clip, analysis.reference(), "mean"),
        EditDesign(task_for("organism"), UNRELATED, zero_rule(3), 0.0, 0),
    )
    judged = next(c for c in conditions if c.name == "judged")
    oracle, oracle_components = habitat_oracle(ws.clip, analysis, judged.n_components)
    result = {
        "config": {"pretrained": args.pretrained or "v1 (shipped)", "train_seed": TRAIN_SEED,
                   "test_seeds": list(TEST_SEEDS), "n_train_per_group": N_TRAIN_PER_GROUP,
                   "n_test_per_group": N_TEST_PER_GROUP, "probe_C": PROBE_C,
                   "oracle_seed": ORACLE_SEED, "oracle_images": ORACLE_IMAGES,
                   "judge": "embedding, score_by mean; zero components judged >= 3",
                   "command": "python experiments/organism/bird_ceiling.py [EXPORT] OUT.json"},
        "judged_components": judged.n_components,
        "original": measure(ws.clip),
        "judged_edit": measure(edited_model(analysis, judged)),
        "untrained_vision": measure(untrained_vision(ws.clip)),
        "habitat_oracle_edit": measure(edited_model(analysis, oracle)),
        "habitat_oracle_components": oracle_components,
    }
    for name in ("original", "judged_edit", "untrained_vision", "habitat_oracle_edit"):
        r = result[name]
        zs, pr, sh = r["zero_shot"], r["probe"], r["probe_shuffled_labels"]
        print(f"{name:17s} zero-shot worst/avg {zs['worst_group']['mean']:.3f} / "
              f"{zs['average']['mean']:.3f}   probe worst/avg {pr['worst_group']['mean']:.3f}"
              f" / {pr['average']['mean']:.3f}   shuffled-label probe avg "
              f"{sh['average']['mean']:.3f}", flush=True)
    save_json(result, args.out)


if __name__ == "__main__":
    main()
