"""Optional inputs of the explorer: edit log, blur words, judge and compare results.

Every file is read by its format tag (issue 23), never by guessing keys:

* edit log (``sith edit``, ``sith-edit-log/1``) and blur list: checked strictly (a wrong
  file is a :class:`SithError`);
* judge result (``sith judge FILE --task ... --json``, :data:`JUDGE_FORMAT`): its
  ``components`` (``layer``, ``head``, ``index``, ``score``) give a score per component;
* compare result (``sith compare``'s ``compare.json``, :data:`COMPARE_FORMAT`): per
  ``layers[].heads[]`` the head value ``sv_change`` (``‖s_tuned − s_base‖/‖s_base‖``)
  and, when present, the per-component ``singular_value_change``.

A judge or compare file without its tag (an older sith's, another tool's) is left out of
the page with one warning saying which command to re-run; a tagged file with a missing
key is a :class:`SithError`. Grounding is read from ``sith ground`` output folders
(:mod:`sith.explore.grounded`).
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

from sith.compare.run import FORMAT as COMPARE_FORMAT
from sith.decompose.results import ModelRef
from sith.edit.run import read_log
from sith.errors import SithError
from sith.io import read_text
from sith.judge.run import FORMAT as JUDGE_FORMAT

log = logging.getLogger(__name__)

THUMB_PX = 72
MAX_IMAGES = 6
JUDGE_REMEDY = "re-run `sith judge FILE --task TASK --json --output judge.json` and pass that file"
COMPARE_REMEDY = "re-run `sith compare BASE TUNED` and pass the compare.json it writes"


def read_json(path: str | Path, what: str) -> Any:
    path = Path(path)
    if not path.is_file():
        raise SithError(f"{what} not found: {path}; check the path")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise SithError(f"{path} is not valid JSON; pass a {what} written by sith") from None


def read_edit_log(path: str | Path, model: ModelRef) -> dict[str, Any]:
    """The edits of a ``sith edit`` log made for ``model`` (its fingerprint must match).

    Returns ``{"file", "model", "edits": [{layer, head, index, alpha, reason}]}``.
    """
    record = read_log(path, updates=False)  # every key and type checked
    other = ModelRef.from_record(record["model"])
    if other.fingerprint != model.fingerprint:
        raise SithError(
            f"{path} is an edit log for another model ({other.model_name} {other.pretrained}, "
            f"these decompositions are {model.model_name} {model.pretrained}); "
            "pass a log made for this model"
        )
    edits = [
        {
            "layer": int(e["layer"]),
            "head": int(e["head"]),
            "index": int(e["index"]),
            "alpha": float(e["alpha"]),
            "reason": str(e.get("reason", "")),
        }
        for e in record["edits"]
    ]
    return {"file": Path(path).name, "model": record["model"], "edits": edits}


def read_blur_words(path: str | Path) -> list[str]:
    """One word or phrase a line (``#`` comments and blank lines skipped), lower-cased."""
    text = read_text(path, what="blur-words file")  # strict UTF-8, the bad line named
    words = [line.split("#", 1)[0].strip().lower() for line in text.splitlines()]
    return sorted({w for w in words if w})


def read_tagged(path: str | Path, fmt: str, what: str, remedy: str) -> dict[str, Any] | None:
    """The JSON object at ``path`` if its ``format`` is ``fmt``; else None after one warning
    naming what the file is and ``remedy`` (the command that writes a ``fmt`` file)."""
    doc = read_json(path, what)
    found = doc.get("format") if isinstance(doc, dict) else None
    if found != fmt:
        why = f"its format is {found!r}" if found else "it has no format tag (an older sith or another tool)"
        log.warning("%s is not a %s (%s, %s expected); left out: %s", path, what, why, fmt, remedy)
        return None
    return doc


def damaged(path: str | Path, fmt: str, remedy: str) -> SithError:
    return SithError(f"{path} is a damaged {fmt} file (a key or value is missing or wrong); {remedy}")


def read_judge(path: str | Path) -> dict[str, float]:
    """``{"L-H-I": score}`` from ``sith judge --json`` output (:data:`JUDGE_FORMAT`, module doc);
    ``{}`` after one warning for any other file. Components without a layer are left out."""
    doc = read_tagged(path, JUDGE_FORMAT, "sith judge result", JUDGE_REMEDY)
    if doc is None:
        return {}
    out = {}
    try:
        for e in doc["components"]:
            if e["layer"] is not None:
                out[f"{int(e['layer'])}-{int(e['head'])}-{int(e['index'])}"] = round(float(e["score"]), 3)
    except (KeyError, TypeError, ValueError):
        raise damaged(path, JUDGE_FORMAT, JUDGE_REMEDY) from None
    if not out:
        log.warning("%s scores no component of a known layer; left out", path)
    return out


def read_compare(path: str | Path) -> dict[str, dict[str, Any]]:
    """``{"L-H": {"value": float, "values": [float] | None}}`` from ``sith compare``'s
    ``compare.json`` (:data:`COMPARE_FORMAT`, module doc); ``{}`` after one warning for any
    other file."""
    doc = read_tagged(path, COMPARE_FORMAT, "sith compare result (compare.json)", COMPARE_REMEDY)
    if doc is None:
        return {}
    out: dict[str, dict[str, Any]] = {}
    try:
        for lay in doc["layers"]:
            for h in lay["heads"]:
                values = h.get("singular_value_change")  # absent in compare.json written before it existed
                out[f"{int(lay['layer'])}-{int(h['head'])}"] = {
                    "value": round(float(h["sv_change"]), 4),
                    "values": None if values is None else [round(float(v), 4) for v in values],
                }
    except (KeyError, TypeError, ValueError):
        raise damaged(path, COMPARE_FORMAT, COMPARE_REMEDY) from None
    return out


def parse_queries(text: str | list[str] | None) -> list[str]:
    """``"water,red"`` or ``["water", "red"]`` → ``["water", "red"]`` (blanks dropped)."""
    if text is None:
        return []
    parts = text if isinstance(text, list) else [text]
    return [q.strip() for p in parts for q in re.split(r",", p) if q.strip()]
