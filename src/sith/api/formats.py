"""Text, JSON and CSV of ``sith search``'s answer (what :func:`sith.api.search` returns)."""

from __future__ import annotations

from sith.decompose import report
from sith.decompose.search import SearchHit
from sith.edit.select import ConceptMatch, Familiarity
from sith.pipeline.editing import SearchResult

#: The format tag of ``sith search --json`` (:func:`format_hits`).
SEARCH_FORMAT = "sith-search/1"


def format_hits(hits: SearchResult | list[SearchHit], *, fmt: str = "table") -> str:
    """Search hits as a text table, JSON or CSV (``fmt`` = table | json | csv); columns: rank,
    layer, head, index, polarity (+: the concept aligns with the vector, -: with its
    negation), ``|cos|`` and the singular value. A :class:`SearchResult` adds the query's
    familiarity and dictionary matches (lines under the table; keys in JSON). JSON is one
    object tagged :data:`SEARCH_FORMAT` with the rows under ``hits``."""
    report.check_format(fmt)
    result = hits if isinstance(hits, SearchResult) else None
    hits = list(hits)
    if fmt != "table":
        rows = [
            {"rank": n, **h._asdict(), "polarity": "+" if h.polarity > 0 else "-"}
            for n, h in enumerate(hits, 1)
        ]
        if fmt == "json":
            extra = {} if result is None else {
                "familiarity": result.familiarity.record(), "match": result.match.record()
            }
            return report.to_json({"format": SEARCH_FORMAT, "hits": rows, **extra})
        return report.rows_to_csv(rows, ["rank", *SearchHit._fields])
    lines = [f"{'rank':>4} {'layer':>5} {'head':>4} {'idx':>4} {'pol':>3} {'|cos|':>6} {'sigma':>9}"]
    for n, h in enumerate(hits, 1):
        pol = "+" if h.polarity > 0 else "-"
        lines.append(
            f"{n:>4} {h.layer:>5} {h.head:>4} {h.index:>4} {pol:>3} {h.cosine:>6.3f} {h.singular_value:>9.4f}"
        )
    lines.append(report.SEARCH_LEGEND)
    if result is not None:
        lines += query_lines(result.familiarity, result.match)
    return "\n".join(lines)


def query_lines(fam: Familiarity, match: ConceptMatch) -> list[str]:
    """What the model and the dictionary make of a query: familiarity, dictionary membership,
    nearest concepts, the concepts it matches."""
    near = ", ".join(f"{c} ({v:.2f})" for c, v in match.nearest)
    matched = ", ".join(f"{c} [{how}]" for c, how, _ in match.matched) or "none"
    return [
        f"# query {fam.line()}" + (": treat these hits as noise" if fam.noise_like else ""),
        f"# in the dictionary: {'yes' if match.in_dictionary else 'no'}; nearest concepts: {near}",
        f"# matches (by words or meaning, null tau {match.threshold:.3f}): {matched}",
    ]
