"""Measurements, the comparison with controls, and the result files of an experiment.

A *metric* is a dict ``{"value": float, "seeds": [..] | None, "low": float | None,
"high": float | None}``: on the organism ``value`` is the mean over fresh image seeds and
``seeds`` the per-seed values; on a dataset ``low``/``high`` are a bootstrap 95% interval.

An experiment's output directory holds ``{name}.json`` (full configuration, every
condition's metrics, the verdict), ``{name}.csv`` (one row per condition), ``{name}.md``
(the table and verdict) and ``{name}.png`` (a plot). The directory is written in a temporary
sibling and renamed into place at the end, so a failed run never leaves results that look
complete; ``"complete": true`` is in the JSON of every finished run.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from sith.io import current_umask, save_json, save_text
from sith.metrics import Interval

log = logging.getLogger(__name__)

Metric = dict[str, Any]


#: The format tag of every results JSON ``sith experiment`` writes.
RESULTS_FORMAT = "sith-experiment-results/1"

def from_seeds(values: Sequence[float]) -> Metric:
    """A metric measured on several fresh image seeds (value = their mean)."""
    vals = [float(v) for v in values]
    return {"value": sum(vals) / len(vals), "seeds": vals, "low": None, "high": None}


def from_interval(interval: Interval) -> Metric:
    """A metric with its bootstrap interval."""
    return {"value": interval.estimate, "seeds": None, "low": interval.low, "high": interval.high}


def beats(a: Metric, b: Metric, higher_is_better: bool) -> bool:
    """Whether ``a`` is better than ``b``: on every seed when both have seeds, else by value."""
    sign = 1.0 if higher_is_better else -1.0
    if a.get("seeds") and b.get("seeds") and len(a["seeds"]) == len(b["seeds"]):
        return all(sign * (x - y) > 0 for x, y in zip(a["seeds"], b["seeds"]))
    return sign * (a["value"] - b["value"]) > 0


def verdict(
    rows: list[dict[str, Any]], primary: dict[str, bool], edit_kind: str = "judged"
) -> dict[str, Any]:
    """For each primary metric (``name -> higher_is_better``): does the edit beat the original
    and every control (every random draw, the unrelated concept, the alignment rule)?"""
    edit = next(r for r in rows if r["kind"] == edit_kind)
    out: dict[str, Any] = {}
    for metric, higher in primary.items():
        beaten = {
            r["condition"]: beats(edit["metrics"][metric], r["metrics"][metric], higher)
            for r in rows
            if r is not edit and metric in r["metrics"]
        }
        out[metric] = {
            "higher_is_better": higher,
            "beats": beaten,
            "beats_all_controls": all(v for k, v in beaten.items() if k != "original"),
            "beats_original": beaten.get("original", False),
        }
    return out


def cell(m: Metric | None) -> str:
    """``0.812`` / ``0.812 (0.79–0.83)`` for seeds (min–max) / ``0.812 [0.78, 0.84]`` (interval)."""
    if m is None or m.get("value") is None or (isinstance(m["value"], float) and math.isnan(m["value"])):
        return ""
    if m.get("seeds") and len(m["seeds"]) > 1:
        return f"{m['value']:.3f} ({min(m['seeds']):.3f}–{max(m['seeds']):.3f})"
    if m.get("low") is not None:
        return f"{m['value']:.3f} [{m['low']:.3f}, {m['high']:.3f}]"
    return f"{m['value']:.3f}"


def random_summary(rows: list[dict[str, Any]], metrics: list[str]) -> dict[str, Any] | None:
    """One row summarising the random draws: the mean of their values (a table line)."""
    draws = [r for r in rows if r["kind"] == "random"]
    if not draws:
        return None
    out = {
        "condition": f"random (mean of {len(draws)})",
        "kind": "random-mean",
        "n_components": draws[0]["n_components"],
        "metrics": {},
    }
    for m in metrics:
        vals = [r["metrics"][m]["value"] for r in draws if m in r["metrics"]]
        if vals:
            out["metrics"][m] = {
                "value": sum(vals) / len(vals),
                "seeds": None,
                "low": min(vals),
                "high": max(vals),
            }
    return out


def markdown_table(rows: list[dict[str, Any]], metrics: list[str]) -> str:
    """Condition rows × metrics (random draws summarised as mean [min, max] over draws)."""
    shown = [r for r in rows if r["kind"] != "random"]
    summary = random_summary(rows, metrics)
    if summary is not None:
        at = next((i for i, r in enumerate(shown) if r["kind"] in ("unrelated", "alignment")), len(shown))
        shown.insert(at, summary)
    head = ["condition", "components", *metrics]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in shown:
        lines.append(
            "| "
            + " | ".join(
                [r["condition"], str(r["n_components"]), *(cell(r["metrics"].get(m)) for m in metrics)]
            )
            + " |"
        )
    return "\n".join(lines)


def verdict_lines(v: dict[str, Any]) -> list[str]:
    """Plain sentences: which controls the edit beats on each primary metric."""
    lines = []
    for metric, r in v.items():
        lost = [k for k, ok in r["beats"].items() if not ok]
        if r["beats_all_controls"] and r["beats_original"]:
            lines.append(f"- {metric}: the judged edit beats the original and every control.")
        else:
            lines.append(f"- {metric}: the judged edit does NOT beat: {', '.join(lost)}.")
    return lines


def csv_text(rows: list[dict[str, Any]]) -> str:
    """One CSV row per condition: value, and seeds or interval bounds of every metric."""
    metrics = list(dict.fromkeys(m for r in rows for m in r["metrics"]))
    fields = ["condition", "kind", "n_components"]
    for m in metrics:
        fields += [m, f"{m}_low", f"{m}_high", f"{m}_seeds"]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    w.writeheader()
    for r in rows:
        out = {"condition": r["condition"], "kind": r["kind"], "n_components": r["n_components"]}
        for m, v in r["metrics"].items():
            out[m] = v["value"]
            out[f"{m}_low"] = "" if v.get("low") is None else v["low"]
            out[f"{m}_high"] = "" if v.get("high") is None else v["high"]
            out[f"{m}_seeds"] = "" if not v.get("seeds") else " ".join(f"{x:.4f}" for x in v["seeds"])
        w.writerow(out)
    return buf.getvalue()


def write_results(
    out_dir: str | Path,
    name: str,
    payload: dict[str, Any],
    *,
    csv_body: str,
    markdown: str,
    plot: Callable[[Path], None] | None,
) -> Path:
    """Write the four files into a temporary sibling of ``out_dir``, then rename it into place
    (an existing ``out_dir`` is replaced only after everything was written). Folders get
    ``0777 & ~umask`` like any folder the user makes. ``plot(path)`` draws the PNG
    (matplotlib is a base dependency); a failing plot fails the run before anything is renamed."""
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".incomplete", dir=out_dir.parent))
    try:
        os.chmod(tmp, 0o777 & ~current_umask())  # mkdtemp makes 0700
        save_json({"format": RESULTS_FORMAT, **payload, "complete": True}, tmp / f"{name}.json")
        save_text(csv_body, tmp / f"{name}.csv")
        save_text(markdown, tmp / f"{name}.md")
        if plot is not None:
            plot(tmp / f"{name}.png")
        old = None
        if out_dir.exists():
            old = out_dir.with_name(f".{out_dir.name}.old-{os.getpid()}")
            os.replace(out_dir, old)
        os.replace(tmp, out_dir)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out_dir


def bar_plot(rows: list[dict[str, Any]], metrics: list[str], title: str, path: Path) -> None:
    """Grouped bars per metric (original, judged, unrelated, alignment; random draws as dots)."""
    import matplotlib  # noqa: PLC0415 - heavy import, only when drawing

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    fixed = [r for r in rows if r["kind"] != "random"]
    draws = [r for r in rows if r["kind"] == "random"]
    fig, ax = plt.subplots(figsize=(max(6, 2.2 * len(metrics)), 4))
    width = 0.8 / max(1, len(fixed))
    for i, r in enumerate(fixed):
        xs = [j + i * width for j in range(len(metrics))]
        vals = [r["metrics"].get(m, {}).get("value", float("nan")) for m in metrics]
        ax.bar(xs, vals, width, label=f"{r['condition']} ({r['n_components']})")
    for j, m in enumerate(metrics):
        vals = [r["metrics"][m]["value"] for r in draws if m in r["metrics"]]
        ax.scatter(
            [j + 0.8 + 0.05] * len(vals),
            vals,
            color="black",
            s=12,
            label="random draws" if j == 0 and vals else None,
            zorder=3,
        )
    values = [r["metrics"][m]["value"] for r in rows for m in metrics if m in r["metrics"]]
    low = min((v for v in values if v == v), default=0.0)
    ax.set_ylim(
        max(0.0, low - 0.1) if low > 0.3 else min(0.0, low - 0.05),
        1.02 if max(values, default=1) <= 1 else None,
    )
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(metrics))], metrics, fontsize=8)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
