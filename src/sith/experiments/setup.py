"""What every experiment shares: the model's workspace, its decompositions, judging them.

An experiment analyses the components (singular vectors) of the seed recipe's
decompositions (docs/method.md §2–§6) of the analysed layers, judges their explanations for a
:class:`Task` and edits some of them. A component is ``(layer, head, index)``.

Public API::

    Task, Judged, judge_explanations       from sith.edit.select (the one selection family)
    Analysis(ws, config, decompositions)    .components .explanations() .reference() .atoms()
    analyse(ws, **options) -> Analysis      decompositions of the seed recipe (cached files reused)
    embedding_judge(clip, reference, score_by)  EmbeddingJudge on the model's own text tower
    judge_components(judge, analysis, task) -> Judged(scores (n,), relevance (n,) | None)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from sith.decompose.results import LayerDecomposition, components_of, explanations_of
from sith.edit.judges import EmbeddingJudge, Explanation, Judge
from sith.edit.select import Component, Judged, Task, judge_explanations
from sith.pipeline import DecompositionConfig, Workspace


@dataclass(frozen=True)
class Analysis:
    """The analysed layers' decompositions; components in (layer, head, index) order."""

    ws: Workspace
    config: DecompositionConfig
    decompositions: tuple[LayerDecomposition, ...]

    @property
    def components(self) -> list[Component]:
        return components_of(self.decompositions)

    @property
    def layers(self) -> list[int]:
        return [d.layer for d in self.decompositions]

    def explanations(self) -> list[Explanation]:
        """One explanation per component (same order as :attr:`components`)."""
        return explanations_of(self.decompositions)

    def reference(self) -> list[str]:
        """Every concept the decompositions use (the embedding judge's centring set)."""
        return sorted({c for d in self.decompositions for c in d.concepts.values()})

    def singular_values(self) -> Tensor:
        """``(n,)`` singular value of each component."""
        return torch.cat([d.singular_values.reshape(-1).float() for d in self.decompositions])


def analyse(ws: Workspace, **options: Any) -> Analysis:
    """Decompositions of ``ws``'s model (``options``: :class:`DecompositionConfig` fields;
    defaults are the seed recipe: last 4 layers, ``comp-0.3``, K = 5, right, foldln)."""
    layers = options.pop("layers", None)
    request = DecompositionConfig(
        ws.clip.info.model_name,
        ws.clip.info.pretrained,
        layers=tuple(layers) if layers else None,
        **options,
    )
    config, decs = ws.decompositions(request)
    return Analysis(ws, config, tuple(decs))


class CachedTextEncoder:
    """``encode(list[str]) -> (n, e)`` float32 on the CPU from a model's text tower, each string
    encoded once per run (judges call it many times with overlapping concept lists)."""

    def __init__(self, clip: Any) -> None:
        self.clip = clip
        self.cache: dict[str, Tensor] = {}

    def __call__(self, texts: list[str]) -> Tensor:
        todo = [t for t in dict.fromkeys(texts) if t not in self.cache]
        if todo:
            emb = self.clip.encode_text(todo).float().cpu()
            self.cache.update(zip(todo, emb))
        if not texts:
            return torch.zeros(0, self.clip.weights.d_embed)
        return torch.stack([self.cache[t] for t in texts])


def text_encoder(clip: Any) -> CachedTextEncoder:
    """A cached text encoder of ``clip`` (:class:`CachedTextEncoder`)."""
    return CachedTextEncoder(clip)


def embedding_judge(clip: Any, reference: list[str], score_by: str = "mean") -> EmbeddingJudge:
    """The offline judge on ``clip``'s text tower, centred on ``reference`` (docs/judges.md)."""
    return EmbeddingJudge(text_encoder(clip), None, reference=reference, score_by=score_by)


def judge_components(judge: Judge, analysis: Analysis, task: Task) -> Judged:
    """Score every analysed component's explanation for ``task``."""
    return judge_explanations(judge, analysis.explanations(), task)


@dataclass(frozen=True)
class Options:
    """The common settings of an experiment run (the ``sith experiment`` flags).

    Attributes:
        dataset: ``organism`` or a benchmark name (:data:`sith.experiments.data.DATASETS`).
        root: the benchmark's folder (not used for the organism).
        split: the benchmark split measured.
        seeds: fresh image seeds (organism).
        n: images per measurement on the organism (per group: n // 2 for spurious).
        draws: random-control draws.
        batch_size: images per forward pass (benchmarks).
        n_boot: bootstrap resamples (benchmarks).
        layers: analysed layers (None: the last 4).
        dictionary: concept pool name or text file (None: the model's default).
        task_concepts: the embedding judge's task concepts (None: the experiment's default).
        judge_score_by: what the embedding judge bins, ``mean`` (default) or ``lead`` (docs/judges.md).
        progress: progress bars.
        command: the command line, recorded in the results.
    """

    dataset: str = "organism"
    root: Path | None = None
    split: str = "test"
    seeds: int = 3
    n: int = 200
    draws: int = 5
    batch_size: int = 64
    n_boot: int = 1000
    layers: tuple[int, ...] | None = None
    dictionary: str | None = None
    task_concepts: tuple[str, ...] | None = None
    judge_score_by: str = "mean"
    progress: bool = True
    command: str = ""

    def record(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in self.__dataclass_fields__}
        out["root"] = None if self.root is None else str(self.root)
        out["layers"] = None if self.layers is None else list(self.layers)
        out["task_concepts"] = None if self.task_concepts is None else list(self.task_concepts)
        return out
