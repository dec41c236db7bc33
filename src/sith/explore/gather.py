"""Find the decomposition files of one model and turn them into the explorer's data.

Reads only what every decomposition file has (docs/method.md §6; ``docs/design.md`` "Files"):
``scores``/``indices`` ``(H, rank, K)``, ``singular_values``, ``fidelity``, ``tied``
``(H, rank)``, ``concepts`` and ``config``, plus ``alt_*`` (the other polarity) when
present. Extra keys are ignored, so the format may grow.
"""

from __future__ import annotations

import logging
import zlib
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sith.decompose import DecompositionConfig, LayerDecomposition, ModelRef
from sith.errors import SithError
from sith.paths import model_dir

log = logging.getLogger(__name__)

#: Content fields that do not tell the configurations of one page apart: the page shows
#: both directions (``right``, ``left``) side by side.
SHOWN_TOGETHER = ("sv_type",)


def page_key(config: DecompositionConfig) -> tuple[Any, ...]:
    """What makes two files one configuration of the page: their content, sv-type aside."""
    return config.identity(without=SHOWN_TOGETHER)


@dataclass(frozen=True)
class DecompositionSet:
    """The decompositions shown on one page: one model, one configuration per layer.

    Attributes:
        files: ``{(layer, sv_type): LayerDecomposition}``.
        model: the model (name, tag, fingerprint).
        configs: ``{layer: DecompositionConfig}``, the configuration shown for each layer.
        others: ``{layer: [description]}``, configurations on disk for that layer not shown.
    """

    files: dict[tuple[int, str], LayerDecomposition]
    model: ModelRef
    configs: dict[int, DecompositionConfig]
    others: dict[int, list[str]] = field(default_factory=dict)

    @property
    def layers(self) -> list[int]:
        return sorted({layer for layer, _ in self.files})

    @property
    def sv_types(self) -> list[str]:
        """``right`` first (the default, what heads write), then ``left``."""
        return sorted({sv for _, sv in self.files}, key=lambda s: (s != "right", s))

    def layer_groups(self) -> list[tuple[DecompositionConfig, list[int]]]:
        """The shown layers grouped by configuration, the group of most layers first."""
        groups: dict[tuple[Any, ...], tuple[DecompositionConfig, list[int]]] = {}
        for layer in self.layers:
            c = self.configs[layer]
            groups.setdefault(page_key(c), (c, []))[1].append(layer)
        return sorted(groups.values(), key=lambda g: (-len(g[1]), g[1]))

    @property
    def config(self) -> DecompositionConfig:
        """The configuration of most layers (the page's headline), naming the page's layers it
        covers (a stored record names its own run's layers)."""
        config, layers = self.layer_groups()[0]
        return replace(config, layers=tuple(layers))


def decomposition_dir(data_dir: str | Path, model_name: str, pretrained: str) -> Path:
    """``data/models/{model}/{pretrained}/decompositions``."""
    return model_dir(data_dir, model_name, pretrained) / "decompositions"


def find_decompositions(
    directory: str | Path,
    *,
    layers: list[int] | None = None,
    method: str | None = None,
    sparsity: int | None = None,
    dictionary: str | None = None,
) -> DecompositionSet:
    """Load every decomposition in ``directory`` and choose one configuration per layer.

    Per layer, among the configurations left by the filters: the seed's recipe, else the one
    that covers the most layers, else the first by description (:func:`choose`); the others
    are listed in :attr:`DecompositionSet.others` so the page can say what it left out.
    Raises :class:`SithError` when none is found, when files of different models are
    mixed, or when a requested layer has no file.
    """
    directory = Path(directory)
    paths = sorted(directory.glob("*.pt")) if directory.is_dir() else []
    if not paths:
        raise SithError(
            f"no decompositions found in {directory}; run `sith decompose` first "
            "(or pass the --data-dir/--model-name/--pretrained they were made with)"
        )
    loaded = [(p, LayerDecomposition.load(p)) for p in paths]
    first_path, first = loaded[0]
    for p, d in loaded[1:]:
        if not d.model.same_model(first.model):
            a, b = first.model, d.model
            raise SithError(
                f"decompositions of different models are mixed in {directory}: {first_path.name} is "
                f"{a.model_name} {a.pretrained}, {p.name} is {b.model_name} {b.pretrained}; "
                "move the foreign files out or re-run `sith decompose`"
            )
    kept = [
        d
        for _, d in loaded
        if (layers is None or d.layer in layers)
        and (method is None or d.config.method == method)
        and (sparsity is None or d.sparsity == sparsity)
        and (dictionary is None or dictionary in (d.config.dictionary, d.config.dictionary_name))
    ]
    if not kept:
        raise SithError(
            f"no decomposition in {directory} matches the filters; found {len(loaded)} file(s) with "
            f"layers {sorted({d.layer for _, d in loaded})}, configurations "
            f"{sorted({d.config.describe() for _, d in loaded})}"
        )
    configs, others = choose(kept)
    files = {(d.layer, d.config.sv_type): d for d in kept if page_key(d.config) == page_key(configs[d.layer])}
    missing = sorted(set(layers or []) - set(configs))
    if missing:
        raise SithError(
            f"no decomposition of layer {missing[0]} in {directory}; run `sith decompose --layers "
            f"{' '.join(map(str, missing))}` or drop it from --layers"
        )
    for layer, left_out in others.items():
        log.info("layer %d: showing %s; also on disk: %s",
                 layer, configs[layer].describe(), "; ".join(left_out))
    return DecompositionSet(files, first.model, configs, others)


def choose(decs: list[LayerDecomposition]) -> tuple[dict[int, DecompositionConfig], dict[int, list[str]]]:
    """``({layer: shown configuration}, {layer: [descriptions of the others]})``.

    Preference, per layer: the seed's recipe; then the configuration present on the most
    layers (one page reads alike); then the first by description (deterministic)."""
    by_layer: dict[int, dict[tuple[Any, ...], DecompositionConfig]] = {}
    for d in decs:
        by_layer.setdefault(d.layer, {}).setdefault(page_key(d.config), d.config)
    coverage = Counter(key for per in by_layer.values() for key in per)
    configs, others = {}, {}
    for layer, per in sorted(by_layer.items()):
        ranked = sorted(per, key=lambda k: (not per[k].is_seed, -coverage[k], per[k].describe()))
        configs[layer] = per[ranked[0]]
        if len(ranked) > 1:
            others[layer] = [per[k].describe() for k in ranked[1:]]
    return configs, others


def concept_hue(text: str) -> int:
    """A stable hue (0–359) for a concept string, so one theme has one colour everywhere."""
    return zlib.crc32(text.encode("utf-8")) % 360


def head_theme(dec: LayerDecomposition, head: int, *, top: int = 3) -> list[tuple[str, float]]:
    """A head's theme: its concepts ranked by ``Σ_i (σ_i / Σσ) · w_i(c)`` over its components.

    A concept scores high when it is frequent (appears in many components) and heavy
    (large weights in components with large singular values). Returns ``top`` pairs
    ``(concept, share)``, share = the concept's score over the sum of all scores. Without
    stored singular values (a file made by the seed's code) every component weighs the same.
    """
    S = dec.singular_values[head].double().nan_to_num(1.0).clamp_min(0)  # nan: not stored (seed file)
    sigma = S / S.sum().clamp_min(1e-12)
    score: Counter[str] = Counter()
    for i in range(dec.rank):
        for c, w in dec.explanation(head, i):
            score[c] += float(sigma[i]) * abs(w)
    total = sum(score.values()) or 1.0
    return [(c, v / total) for c, v in score.most_common(top)]
