"""Results as tables in a notebook: HTML (``_repr_html_``) and ``pandas.DataFrame`` (``to_pandas()``).

One row per component: explanations of a layer or a head (:class:`HeadExplanations`), edit plans
and search results use the same two helpers. pandas is optional (the ``notebook`` extra); without
it ``to_pandas()`` raises one :class:`ImportError` line saying what to install.
"""

from __future__ import annotations

import html
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

#: Rows shown in a notebook cell; the rest are counted under the table (``to_pandas()`` has all).
MAX_HTML_ROWS = 200


def explanation_text(pairs: Sequence[tuple[str, float]]) -> str:
    """``water (0.41), ocean (0.21)`` — the non-zero pairs, as given (largest first)."""
    return ", ".join(f"{c} ({w:.2f})" for c, w in pairs if w != 0)


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list | tuple) and value and isinstance(value[0], tuple | list):
        return explanation_text(value)
    return str(value)


def html_table(rows: Sequence[dict[str, Any]], columns: Sequence[str], *, caption: str = "",
               notes: Sequence[str] = ()) -> str:
    """An HTML table of ``rows`` (dicts) over ``columns`` (at most :data:`MAX_HTML_ROWS` rows;
    escaped), a caption above and notes below."""
    esc = html.escape
    head = "".join(f"<th>{esc(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{esc(cell(r.get(c)))}</td>" for c in columns) + "</tr>"
        for r in rows[:MAX_HTML_ROWS]
    )
    more = len(rows) - MAX_HTML_ROWS
    extra = [f"… {more} more rows: .to_pandas() has them all"] if more > 0 else []
    foot = "".join(f"<p><small>{esc(n)}</small></p>" for n in [*notes, *extra])
    cap = f"<caption>{esc(caption)}</caption>" if caption else ""
    return f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{foot}"


def data_frame(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> Any:
    """``pandas.DataFrame`` of ``rows`` over ``columns``; explanations become text."""
    try:
        import pandas as pd
    except ImportError:
        raise ImportError("to_pandas() needs pandas: pip install 'sith[notebook]' (or pandas)") from None
    return pd.DataFrame(
        [{c: explanation_text(r[c]) if c == "explanation" else r.get(c) for c in columns} for r in rows],
        columns=list(columns),
    )


#: Columns of a decomposition's rows.
EXPLANATION_COLUMNS = ("layer", "head", "index", "singular_value", "fidelity", "tied", "explanation")


@dataclass(frozen=True)
class HeadExplanations:
    """Explanations of some components of one decomposition (e.g. one head), as a table.

    ``rows`` are dicts over :data:`EXPLANATION_COLUMNS` (``explanation``: ``[(concept,
    weight)]``, largest first). Printing gives a text table, a notebook an HTML one;
    :meth:`to_pandas` a DataFrame. Iterating goes over the rows.
    """

    rows: tuple[dict[str, Any], ...]
    caption: str = ""

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return self.rows[i]

    def __str__(self) -> str:
        lines = [self.caption] if self.caption else []
        lines.append(f"{'layer':>5} {'head':>4} {'idx':>4} {'sigma':>9} {'fid':>5}  explanation")
        for r in self.rows:
            tied = "*" if r["tied"] else " "
            lines.append(
                f"{r['layer']:>5} {r['head']:>4} {r['index']:>4} {r['singular_value']:>9.4f}{tied}"
                f"{r['fidelity']:>5.2f}  {explanation_text(r['explanation'])}"
            )
        return "\n".join(lines)

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        return html_table(self.rows, EXPLANATION_COLUMNS, caption=self.caption)

    def to_pandas(self) -> Any:
        """One row per component (pandas: ``pip install 'sith[notebook]'``)."""
        return data_frame(self.rows, EXPLANATION_COLUMNS)
