"""Two selection rules that do not judge explanations (named options of ``sith edit --rule``).

Both polarities considered:

* ``alignment``: a component is chosen when ``|cos(p, c)| ≥ threshold`` for its
  joint-space vector ``p`` and a named concept's atom ``c``.
* ``weight``: a component is chosen when one of the named concepts appears in
  its explanation — the explained polarity, and the other one when the decomposition
  was made with ``--polarity both`` — with weight ``≥ threshold``.

The default selection judges the explanations instead (:mod:`sith.edit.select.judged`); the
alignment rule is reported beside it as a control (docs/experiments.md).

``max_per_layer`` keeps only the strongest matches (largest weight or ``|cos|``) per layer.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import replace

import torch
from torch import Tensor

from sith.decompose.results import LayerDecomposition
from sith.decompose.search import alignment
from sith.edit.exact import ComponentEdit
from sith.errors import SithError
from sith.factor import HeadSVD
from sith.load.weights import VisionWeights


def concept_indices(names: list[str], concepts: list[str]) -> list[int]:
    """Dictionary indices of ``names`` (case-insensitive exact match); an unknown name
    raises SithError listing the nearest dictionary concepts."""
    lookup: dict[str, int] = {}
    for i, c in enumerate(concepts):
        lookup.setdefault(c.lower(), i)
    out = []
    for name in names:
        key = name.strip().lower()
        if key not in lookup:
            near = difflib.get_close_matches(key, list(lookup), n=5, cutoff=0.5)
            hint = f"nearest: {', '.join(near)}" if near else "no close match"
            raise SithError(f"concept {name!r} is not in the dictionary ({hint}); pick a dictionary concept")
        out.append(lookup[key])
    return out


def _cap(scored: list[tuple[float, ComponentEdit]], max_per_layer: int | None) -> list[ComponentEdit]:
    scored.sort(key=lambda s: (s[1].layer, -s[0], s[1].head, s[1].index))
    kept: list[ComponentEdit] = []
    per_layer: dict[int, int] = {}
    for score, e in scored:
        if max_per_layer is not None and per_layer.get(e.layer, 0) >= max_per_layer:
            continue
        per_layer[e.layer] = per_layer.get(e.layer, 0) + 1
        kept.append(replace(e, score=round(score, 4)))
    return kept


def select_by_weight(
    decompositions: list[LayerDecomposition],
    indices: list[int],
    *,
    alpha: float,
    threshold: float = 0.1,
    max_per_layer: int | None = None,
    reason: str = "",
) -> list[ComponentEdit]:
    """Components whose explanation contains one of ``indices`` with weight ``≥ threshold``."""
    wanted = torch.tensor(sorted(set(indices)), dtype=torch.long)
    scored: list[tuple[float, ComponentEdit]] = []
    for dec in decompositions:
        layer = dec.layer
        best = torch.zeros(dec.num_heads, dec.rank)
        pairs = [(dec.scores, dec.indices)]
        if dec.alt:
            pairs.append((dec.alt["scores"], dec.alt["indices"]))
        for scores, idx in pairs:
            hit = torch.isin(idx, wanted)
            best = torch.maximum(best, torch.where(hit, scores.abs(), torch.zeros(())).amax(-1))
        for h, i in (best >= threshold).nonzero().tolist():
            if best[h, i] > 0:
                scored.append((float(best[h, i]), ComponentEdit(layer, h, i, alpha, reason)))
    return _cap(scored, max_per_layer)


def select_by_alignment(
    weights: VisionWeights,
    concept_atoms: Tensor,
    *,
    layers: list[int],
    alpha: float,
    fold_ln: bool = True,
    sv_type: str = "right",
    threshold: float = 0.3,
    max_per_layer: int | None = None,
    reason: str = "",
    image_mean: Tensor | None = None,
    svd_of: Callable[[int, bool], HeadSVD] | None = None,
) -> list[ComponentEdit]:
    """Components whose joint-space target (``sv_type`` vectors, ``image_mean`` subtracted as
    in the decomposition) has ``|cos| ≥ threshold`` with any of ``concept_atoms`` ``(n, e)``."""
    scored: list[tuple[float, ComponentEdit]] = []
    best: dict[tuple[int, int, int], float] = {}
    for atom in concept_atoms:
        for layer, (cos, _) in alignment(
            weights,
            atom,
            layers=layers,
            fold_ln=fold_ln,
            sv_type=sv_type,
            image_mean=image_mean,
        ).items():
            for h, i in (cos.abs() >= threshold).nonzero().tolist():
                key = (layer, h, i)
                best[key] = max(best.get(key, 0.0), float(cos[h, i].abs()))
    for (layer, h, i), v in best.items():
        scored.append((v, ComponentEdit(layer, h, i, alpha, reason)))
    return _cap(scored, max_per_layer)
