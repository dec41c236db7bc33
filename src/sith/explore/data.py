"""The explorer's data as JSON-ready dicts (compact: concept strings once, numbers rounded).

Layout (read by ``assets/explore.js``)::

    meta      {model, config, layer_configs, layers, n_heads, rank, sv_types, sith_version}
              config: the configuration of most layers; layer_configs: {layer: {config,
              seed_recipe, others}} — the one shown for each layer and those left out
    concepts  [str]                                  every concept shown, once
    overview  {layer: [{theme: [[cid, share]], hue}] per head}
    layer L   {sv_type: {S, F, T, P?, C, alt?}}      parsed only when that layer is opened
              S, F: (H, rank) singular values, fidelity;  T: (H, rank) 0/1 tie flags
              P: (H, rank) polarity (only if some explanation is of −p)
              C: (H, rank) flat [cid, weight, cid, weight, ...] largest first
              alt: {F, C} the other polarity, when the file holds it
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from sith.decompose.results import LayerDecomposition
from sith.explore.gather import DecompositionSet, concept_hue, head_theme


class ConceptTable:
    """Concept strings ↔ small integer ids (each string stored once in the page)."""

    def __init__(self) -> None:
        self.strings: list[str] = []
        self._ids: dict[str, int] = {}

    def id(self, text: str) -> int:
        if text not in self._ids:
            self._ids[text] = len(self.strings)
            self.strings.append(text)
        return self._ids[text]


def _r(x: float, digits: int = 4) -> float | None:
    """Round to ``digits`` significant digits (smaller JSON, enough for display); ``None``
    (JSON null, shown as "–") for a value the file does not store (``nan``: seed-made files)."""
    return None if x != x else float(f"{x:.{digits}g}")


def explanations(dec: LayerDecomposition, table: ConceptTable, *, alt: bool = False) -> list[list[list[Any]]]:
    """``(H, rank)`` lists of flat ``[cid, weight, ...]``, largest weight first."""
    out = []
    for h in range(dec.num_heads):
        rows = []
        for i in range(dec.rank):
            flat: list[Any] = []
            for c, w in dec.explanation(h, i, alt=alt):
                flat += [table.id(c), _r(w, 3)]
            rows.append(flat)
        out.append(rows)
    return out


def layer_payload(dec: LayerDecomposition, table: ConceptTable) -> dict[str, Any]:
    """One file's per-head arrays (module doc, ``layer L``)."""
    payload: dict[str, Any] = {
        "S": [[_r(v) for v in row] for row in dec.singular_values.tolist()],
        "F": [[_r(v, 3) for v in row] for row in dec.fidelity.tolist()],
        "T": [[int(bool(v)) for v in row] for row in dec.tied.tolist()],
        "C": explanations(dec, table),
    }
    polarity = getattr(dec, "polarity", None)
    if polarity is not None and bool((polarity < 0).any()):
        payload["P"] = [[int(v) for v in row] for row in polarity.tolist()]
    if {"scores", "indices", "fidelity"} <= set(dec.alt):
        payload["alt"] = {
            "F": [[_r(v, 3) for v in row] for row in dec.alt["fidelity"].tolist()],
            "C": explanations(dec, table, alt=True),
        }
    return payload


def page_data(dset: DecompositionSet) -> tuple[dict[str, Any], dict[int, dict[str, Any]]]:
    """``(main, layers)``: the always-loaded part and ``{layer: payload}`` (parsed lazily)."""
    table = ConceptTable()
    primary = dset.sv_types[0]
    layers: dict[int, dict[str, Any]] = {}
    overview: dict[str, list[dict[str, Any]]] = {}
    n_heads = rank = 0
    for layer in dset.layers:
        layers[layer] = {}
        for sv in dset.sv_types:
            dec = dset.files.get((layer, sv))
            if dec is not None:
                layers[layer][sv] = layer_payload(dec, table)
        dec = dset.files.get((layer, primary)) or next(
            d for (lay, _), d in dset.files.items() if lay == layer
        )
        n_heads, rank = max(n_heads, dec.num_heads), max(rank, dec.rank)
        heads = []
        for h in range(dec.num_heads):
            theme = head_theme(dec, h)
            heads.append(
                {
                    "theme": [[table.id(c), _r(s, 3)] for c, s in theme],
                    "hue": concept_hue(theme[0][0]) if theme else -1,
                }
            )
        overview[str(layer)] = heads
    main = {
        "meta": {
            "model": asdict(dset.model),
            "config": dset.config.record(),
            "layer_configs": {
                str(layer): {
                    "config": c.describe(),
                    "seed_recipe": c.is_seed,
                    "others": dset.others.get(layer, []),
                }
                for layer, c in sorted(dset.configs.items())
            },
            "layers": dset.layers,
            "n_heads": n_heads,
            "rank": rank,
            "sv_types": dset.sv_types,
        },
        "concepts": table.strings,
        "overview": overview,
    }
    return main, layers
