"""Sec. 5.1 — suppressing a spurious correlation (Waterbirds; the organism's ducks and sparrows).

The judge scores every analysed component's explanation for "background / scene / location";
components judged ≥ 3 are set to zero (α = 0; docs/method.md §6). Zero-shot bird classification
(the CLIP paper's 80 templates on Waterbirds; the organism's own prompts) is measured per
group (bird × place) before and after: worst group and average group accuracy, beside the
controls of :mod:`sith.experiments.runner`.

* ``organism``: the balanced spurious test set of the world
  (:func:`sith.organism.world.spurious_groups`: duck/sparrow × water/land, fresh seeds);
  task concepts: the world's background words and synonyms.
* ``waterbirds``: the test split (split 2) of ``<root>/waterbird_complete95_forest2water2``;
  95% bootstrap intervals (stratified by group); task concepts: background, scene, location.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from sith.datasets import load_waterbirds
from sith.edit.judges import Judge
from sith.edit.select import judge_record, zero_rule
from sith.experiments.data import check_dataset, image_embeddings
from sith.experiments.results import Metric, from_interval, from_seeds
from sith.experiments.runner import EditDesign, finish, judged_conditions, organism_seeds
from sith.experiments.setup import Options, Task, analyse, embedding_judge
from sith.metrics import bootstrap_ci, group_accuracy, zero_shot_predict, zero_shot_weights
from sith.organism.world import LAND_BACKGROUNDS, SYNONYMS, WATER_BACKGROUNDS
from sith.organism.zeroshot import loaded_encoders, spurious_group_accuracy

QUESTION = "Is this component about the background, scene or location of the image?"
BACKGROUND_CONCEPTS = ("background", "scene", "location")
UNRELATED = Task(
    "colour red (unrelated control)", "Is this component about the colour red?", ("red", "crimson", "scarlet")
)
PRIMARY = {"worst_group": True, "average": True}
GROUPS = ("duck/water", "duck/land", "sparrow/water", "sparrow/land")


def with_synonyms(words: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(w for v in words for w in (v, *SYNONYMS.get(v, ())))


def task_for(dataset: str, concepts: tuple[str, ...] | None = None) -> Task:
    """The judged task: background words of the world (organism) or background/scene/location."""
    default = (
        with_synonyms(WATER_BACKGROUNDS + LAND_BACKGROUNDS) if dataset == "organism" else BACKGROUND_CONCEPTS
    )
    return Task("background / scene / location", QUESTION, tuple(concepts or default))


@dataclass
class OrganismGroups:
    """Measure: duck-vs-sparrow accuracy per group on fresh world images, one value per seed."""

    seeds: list[int]
    n_per_group: int = 100

    def __call__(self, clip: Any) -> dict[str, Metric]:
        enc = loaded_encoders(clip)
        per_seed = [spurious_group_accuracy(enc, n_per_group=self.n_per_group, seed=s) for s in self.seeds]
        keys = ["worst_group", "average", *GROUPS]
        return {k: from_seeds([r[k] for r in per_seed]) for k in keys}


@dataclass
class WaterbirdsGroups:
    """Measure: zero-shot landbird/waterbird accuracy per group on a Waterbirds split, with
    stratified bootstrap intervals (images embedded once per model, cached)."""

    root: Path
    data_dir: Path
    split: str = "test"
    batch_size: int = 64
    n_boot: int = 1000
    progress: bool = True
    weights: torch.Tensor | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.dataset = load_waterbirds(self.root, self.split)

    def __call__(self, clip: Any) -> dict[str, Metric]:
        if self.weights is None:  # the text tower is never edited
            self.weights = zero_shot_weights(
                self.dataset.class_names, lambda t: clip.encode_text(t).float().cpu()
            )
        emb = image_embeddings(
            clip,
            self.dataset.samples,
            dataset="waterbirds",
            split=self.split,
            data_dir=self.data_dir,
            batch_size=self.batch_size,
            progress=self.progress,
        )
        pred = zero_shot_predict(emb, self.weights)
        labels, groups = self.dataset.labels(), self.dataset.groups()
        G = len(self.dataset.group_names)

        def stat(name: str):  # noqa: ANN202
            def f(idx: torch.Tensor) -> float:
                acc = group_accuracy(pred[idx], labels[idx], groups[idx], G)
                return getattr(acc, name)

            return f

        out = {
            "worst_group": from_interval(
                bootstrap_ci(stat("worst"), len(pred), n_boot=self.n_boot, strata=groups)
            ),
            "average": from_interval(
                bootstrap_ci(stat("mean"), len(pred), n_boot=self.n_boot, strata=groups)
            ),
        }
        per = group_accuracy(pred, labels, groups, G).per_group
        for g, name in enumerate(self.dataset.group_names):
            out[name] = {"value": per[g], "seeds": None, "low": None, "high": None}
        return out


def run(ws: Any, opts: Options, out_dir: Path, judge: Judge | None = None) -> dict[str, Any]:
    """``sith experiment spurious``: judge, zero the components judged ≥ 3, measure with controls."""
    check_dataset(opts.dataset, ("organism", "waterbirds"), "spurious", opts.root)
    if opts.dataset == "organism":
        measure: Any = OrganismGroups(organism_seeds(opts.seeds), n_per_group=max(1, opts.n // 2))
    else:
        measure = WaterbirdsGroups(
            opts.root, ws.data_dir, opts.split, opts.batch_size, opts.n_boot, opts.progress
        )
    analysis = analyse(ws, layers=opts.layers, dictionary=opts.dictionary)
    judge = judge or embedding_judge(ws.clip, analysis.reference(), opts.judge_score_by)
    design = EditDesign(task_for(opts.dataset, opts.task_concepts), UNRELATED, zero_rule(3), 0.0, opts.draws)
    conditions, record = judged_conditions(analysis, judge, design)
    groups = list(GROUPS) if opts.dataset == "organism" else list(measure.dataset.group_names)
    return finish(
        "spurious",
        analysis,
        conditions,
        measure,
        primary=PRIMARY,
        shown=["worst_group", "average", *groups],
        config={**opts.record(), "judge": judge_record(judge), "rule": "zero components judged >= 3"},
        record=record,
        out_dir=out_dir,
        progress=opts.progress,
        title=f"Spurious correlation ({opts.dataset}): zero-shot bird accuracy per group, "
        "components judged >= 3 for background/scene/location set to zero, with controls.",
    )
