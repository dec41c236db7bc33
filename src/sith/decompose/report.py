"""Readable views of decompositions: table rows, text table, JSON and CSV (``sith show``).

Also the generic row exporters (:func:`to_json`, :func:`rows_to_csv`) that ``sith search``
and the ``sith edit`` plan use. Imports torch only (``sith show`` starts fast).
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any

from sith.decompose.results import LayerDecomposition
from sith.errors import ConfigError, SithError

#: Output formats of every table a command prints.
FORMATS = ("table", "json", "csv")

#: The legend printed under ``sith show``'s table (docs/method.md §2 sign rule, §5 fidelity).
LEGEND = (
    "# sigma: singular value; fid: fidelity, cos(target, weighted sum of the concepts' atoms), "
    "1 = exact; pol: + explains the vector with the sign rule's sign, - its negation; "
    "* after idx: singular value nearly tied (vector not identifiable); concepts: (weight)"
)


#: The legend printed under ``sith search``'s table.
SEARCH_LEGEND = (
    "# idx: the component (singular vector) of that head; pol: + the concept aligns with the vector "
    "as the sign rule gives it, - with its negation;\n# |cos|: cosine between the concept's atom and "
    "the component's target (docs/method.md §3), the ranking key; sigma: the component's singular value"
)


def explanation_rows(
    result: LayerDecomposition, *, heads: list[int] | None = None, include_alt: bool = True
) -> list[dict[str, Any]]:
    """One row per (head, vector): layer, head, index, singular value, fidelity, polarity,
    tied flag and the K ``(concept, weight)`` pairs (largest first). A vector whose singular
    value is zero (below :data:`ZEROED_RTOL` of its head's largest: an edit removed it) writes
    nothing, so its explanation is not shown (``concepts`` empty, ``zeroed`` true)."""
    rows = []
    layer = result.layer
    for h in range(result.num_heads):
        if heads is not None and h not in heads:
            continue
        top = float(result.singular_values[h].abs().max()) if result.rank else 0.0
        for i in range(result.rank):
            row: dict[str, Any] = {
                "layer": layer,
                "head": h,
                "index": i,
                "singular_value": known(result.singular_values[h, i], 6),
                "fidelity": known(result.fidelity[h, i], 4),
                "polarity": "+" if int(result.polarity[h, i]) > 0 else "-",
                "tied": bool(result.tied[h, i]),
                "concepts": [[c, round(w, 4)] for c, w in result.explanation(h, i)],
            }
            sv = float(result.singular_values[h, i])
            if not math.isnan(sv) and abs(sv) <= ZEROED_RTOL * top:
                row.update(zeroed=True, concepts=[])
            if include_alt and result.alt and not row.get("zeroed"):
                row["alt_fidelity"] = known(result.alt["fidelity"][h, i], 4)
                row["alt_concepts"] = [
                    [c, round(w, 4)] for c, w in result.explanation(h, i, alt=True)
                ]
            rows.append(row)
    return rows


#: A singular value at most this fraction of its head's largest counts as zeroed (float32 SVD noise).
ZEROED_RTOL = 1e-6


def known(value: Any, digits: int) -> float | None:
    """A rounded number, or ``None`` for one the file does not store (``nan``: seed-made files)."""
    v = float(value)
    return None if math.isnan(v) else round(v, digits)


def _num(value: float | None, width: int, digits: int) -> str:
    return f"{'n/a':>{width}}" if value is None else f"{value:>{width}.{digits}f}"


def _concept_text(pairs: list[list[Any]]) -> str:
    return ", ".join(f"{c} ({w:.2f})" for c, w in pairs)


def format_table(rows: list[dict[str, Any]]) -> str:
    """A fixed-width text table; ``*`` after the index marks a nearly tied singular value."""
    header = f"{'layer':>5} {'head':>4} {'idx':>4} {'sigma':>9} {'fid':>5} pol  concepts"
    lines = [header, "-" * len(header)]
    for r in rows:
        tie = "*" if r["tied"] else " "
        lines.append(
            f"{r['layer']:>5} {r['head']:>4} {r['index']:>3}{tie} {_num(r['singular_value'], 9, 4)} "
            f"{_num(r['fidelity'], 5, 2)}  {r['polarity']}   "
            + ("(zeroed: sigma 0, writes nothing)" if r.get("zeroed") else _concept_text(r["concepts"]))
        )
        if "alt_concepts" in r:
            lines.append(
                f"{'':>31}{_num(r['alt_fidelity'], 5, 2)}  {'-' if r['polarity'] == '+' else '+'}   "
                f"{_concept_text(r['alt_concepts'])}"
            )
    return "\n".join(lines)


#: The format tag of ``sith show --json``: ``{format, file, layer, config, made_by, rows}``.
SHOW_FORMAT = "sith-show/1"


def to_json(rows: Any) -> str:
    return json.dumps(rows, indent=1)


def rows_to_csv(rows: list[dict[str, Any]], fields: list[str]) -> str:
    """CSV of ``rows`` with the columns ``fields``; list cells (explanations) are written as
    ``concept (weight); ...`` text."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(fields)
    for r in rows:
        writer.writerow([_cell(r.get(f)) for f in fields])
    return buf.getvalue()


def _cell(value: Any) -> Any:
    if isinstance(value, list):
        return "; ".join(f"{c} ({w:.4f})" for c, w in value)
    return "" if value is None else value


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise SithError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    return fmt


def show(
    file: str | Path,
    *,
    layer: int | None = None,
    heads: list[int] | None = None,
    fmt: str = "table",
) -> str:
    """A decomposition file as a text table (with a header and a legend), JSON or CSV.

    ``layer`` checks the file holds that layer; ``heads`` keeps only those heads.
    """
    check_format(fmt)
    result = LayerDecomposition.load(file)
    if layer is not None and layer != result.layer:
        raise ConfigError(
            "layer",
            f"{file} holds layer {result.layer}, not {layer}; drop {{name}} or pick its file",
            value=layer,
        )
    if heads is not None:
        bad = [h for h in heads if not 0 <= h < result.num_heads]
        if bad:
            raise SithError(
                f"head {bad[0]} is out of range: this layer has heads 0..{result.num_heads - 1}"
            )
    rows = explanation_rows(result, heads=heads)
    if fmt == "json":
        return to_json({"format": SHOW_FORMAT, "file": str(file), "layer": result.layer,
                        "config": result.config.record(), "made_by": result.made_by_seed, "rows": rows})
    if fmt == "csv":
        return to_csv(rows)
    c = result.config
    options = c.options()
    recipe = "seed recipe" if not options else "options: " + ", ".join(f"{k}={v}" for k, v in options.items())
    head = (
        f"# {c.model_name} {c.pretrained} | layer {result.layer} {c.sv_type} "
        f"{'foldln' if c.fold_ln else 'nofoldln'} | {c.dictionary_name or c.dictionary} | "
        f"{c.method} K={c.sparsity} rank={c.rank or result.rank} | {recipe}"
    )
    if result.made_by_seed:  # a file made by the seed's code (sith.decompose.seedformat)
        head += (f"\n# {result.made_by_seed}\n# the seed's files store no singular values or fidelity (n/a)"
                 + ("; concept list missing: indices shown" if result.origin.get("concepts_missing") else ""))
    return head + "\n" + format_table(rows) + "\n" + LEGEND + "\n"


def to_csv(rows: list[dict[str, Any]]) -> str:
    """CSV with one column per concept slot: ``concept_1, weight_1, ...``."""
    k = max((len(r["concepts"]) for r in rows), default=0)
    buf = io.StringIO()
    fields = ["layer", "head", "index", "singular_value", "fidelity", "polarity", "tied"]
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(fields + [f"{n}_{j + 1}" for j in range(k) for n in ("concept", "weight")])
    for r in rows:
        cells = [r[f] for f in fields]
        for j in range(k):
            cells += list(r["concepts"][j]) if j < len(r["concepts"]) else ["", ""]
        writer.writerow(cells)
    return buf.getvalue()
