"""Optional inputs of the explorer: edit log, blur words, grounding and compare results.

The edit log and the blur list are checked strictly (a wrong file is a :class:`SithError`).
Grounding (``sith ground``) and compare (``sith compare``) results are read
*tolerantly*: their formats belong to other commands, so this module accepts any JSON
that has the fields below under one of several common names, and skips (with a
warning) a file in which it recognises nothing.

Grounding JSON — a list of components, top-level or under ``components``/``results``/
``items``; each has ``layer``, ``head``, ``index`` (or ``component``) and images under
``top``/``images``/``top_images``/``positive`` (and ``bottom``/``negative`` for the
other sign). An image is a path (relative to the JSON file), a ``data:`` URI, or a dict
with that under ``image``/``path``/``file``/``src``, optionally ``score``/``activation``
and a patch heatmap ``heatmap``/``patches``/``patch_scores`` (2-D list).

Judge JSON — a list of components, top-level or under ``components``/``results``/
``items``/``judgements``; each has ``layer``, ``head``, ``index`` and a number under
``score``/``judge_score``/``rating`` (e.g. ``sith judge`` output).

Compare JSON — a list of heads, top-level or under ``heads``/``results``/``items``;
each has ``layer``, ``head`` and per-component changes ``values``/``changes``/
``delta_s``/``singular_value_change`` (list) and/or one head-level ``value``/``change``.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import re
from pathlib import Path
from typing import Any

from PIL import Image

from sith.edit.run import read_log
from sith.errors import SithError
from sith.io import read_text

log = logging.getLogger(__name__)

THUMB_PX = 72
MAX_IMAGES = 6


def read_json(path: str | Path, what: str) -> Any:
    path = Path(path)
    if not path.is_file():
        raise SithError(f"{what} not found: {path}; check the path")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise SithError(f"{path} is not valid JSON; pass a {what} written by sith") from None


def read_edit_log(path: str | Path, model: dict[str, Any]) -> dict[str, Any]:
    """The edits of a ``sith edit`` log made for ``model`` (its fingerprint must match).

    Returns ``{"file", "model", "edits": [{layer, head, index, alpha, reason}]}``.
    """
    record = read_log(path, updates=False)  # every key and type checked
    other = record["model"]
    if other.get("fingerprint") != model.get("fingerprint"):
        raise SithError(
            f"{path} is an edit log for another model ({other.get('model_name')} {other.get('pretrained')}, "
            f"these decompositions are {model.get('model_name')} {model.get('pretrained')}); "
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
    return {"file": Path(path).name, "model": other, "edits": edits}


def read_blur_words(path: str | Path) -> list[str]:
    """One word or phrase a line (``#`` comments and blank lines skipped), lower-cased."""
    text = read_text(path, what="blur-words file")  # strict UTF-8, the bad line named
    words = [line.split("#", 1)[0].strip().lower() for line in text.splitlines()]
    return sorted({w for w in words if w})


def _first(d: dict[str, Any], keys: tuple[str, ...]) -> Any:
    return next((d[k] for k in keys if k in d), None)


def _entries(doc: Any, keys: tuple[str, ...]) -> list[dict[str, Any]]:
    items = doc if isinstance(doc, list) else _first(doc, keys) if isinstance(doc, dict) else None
    return [e for e in items or [] if isinstance(e, dict)]


def _key(e: dict[str, Any]) -> str | None:
    try:
        index = e["index"] if "index" in e else e["component"]
        return f"{int(e['layer'])}-{int(e['head'])}-{int(index)}"
    except (KeyError, TypeError, ValueError):
        return None


def thumbnail(source: str, base: Path) -> str | None:
    """A small inline JPEG ``data:`` URI of an image path (or a ``data:`` URI, kept as is)."""
    if source.startswith("data:image/"):
        return source
    path = Path(source) if Path(source).is_absolute() else base / source
    try:
        with Image.open(path) as im:
            im = im.convert("RGB")
            im.thumbnail((THUMB_PX, THUMB_PX))
            buf = io.BytesIO()
            im.save(buf, format="JPEG", quality=80)
    except OSError:
        log.warning("grounding image %s cannot be read; left out", path)
        return None
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _image(item: Any, base: Path, sign: int) -> dict[str, Any] | None:
    src = item if isinstance(item, str) else _first(item, ("image", "path", "file", "src"))
    if not isinstance(src, str):
        return None
    uri = thumbnail(src, base)
    if uri is None:
        return None
    out: dict[str, Any] = {"src": uri, "sign": sign}
    if isinstance(item, dict):
        score = _first(item, ("score", "activation", "value"))
        if isinstance(score, (int, float)):
            out["score"] = round(float(score), 4)
        heat = _first(item, ("heatmap", "patches", "patch_scores"))
        if isinstance(heat, list) and heat and all(isinstance(r, list) for r in heat):
            out["heat"] = [[round(float(v), 3) for v in row] for row in heat]
    return out


def read_grounding(path: str | Path) -> dict[str, list[dict[str, Any]]]:
    """``{"L-H-I": [image, ...]}`` from a grounding JSON (module doc); ``{}`` if unrecognised."""
    path = Path(path)
    doc = read_json(path, "grounding file")
    out: dict[str, list[dict[str, Any]]] = {}
    for e in _entries(doc, ("components", "results", "items")):
        key = _key(e)
        if key is None:
            continue
        images = []
        for keys, sign in ((("top", "images", "top_images", "positive"), 1), (("bottom", "negative"), -1)):
            items = _first(e, keys)
            for item in (items if isinstance(items, list) else [])[:MAX_IMAGES]:
                img = _image(item, path.parent, sign)
                if img is not None:
                    images.append(img)
        if images:
            out[key] = images
    if not out:
        log.warning("%s has no top images this explorer recognises; grounding left out", path)
    return out


def read_judge(path: str | Path) -> dict[str, float]:
    """``{"L-H-I": score}`` from a judge JSON (module doc); ``{}`` if unrecognised."""
    path = Path(path)
    out = {}
    for e in _entries(read_json(path, "judge file"), ("components", "results", "items", "judgements")):
        key, score = _key(e), _first(e, ("score", "judge_score", "rating"))
        if key is not None and isinstance(score, (int, float)):
            out[key] = round(float(score), 3)
    if not out:
        log.warning("%s has no judge scores this explorer recognises; left out", path)
    return out


def _numbers(x: Any) -> list[float] | None:
    if isinstance(x, list) and x and all(isinstance(v, (int, float)) for v in x):
        return [round(float(v), 4) for v in x]
    return None


def read_compare(path: str | Path) -> dict[str, dict[str, Any]]:
    """``{"L-H": {"value": float, "values": [float] | None}}`` from a compare JSON (module doc)."""
    path = Path(path)
    doc = read_json(path, "compare result")
    out: dict[str, dict[str, Any]] = {}
    for e in _entries(doc, ("heads", "results", "items")):
        try:
            key = f"{int(e['layer'])}-{int(e['head'])}"
        except (KeyError, TypeError, ValueError):
            continue
        values = _numbers(_first(e, ("values", "changes", "delta_s", "singular_value_change")))
        value = _first(e, ("value", "change"))
        if not isinstance(value, (int, float)):
            value = sum(abs(v) for v in values) / len(values) if values else None
        if value is not None:
            out[key] = {"value": round(float(value), 4), "values": values}
    if not out:
        log.warning("%s has no per-head changes this explorer recognises; compare left out", path)
    return out


def parse_queries(text: str | list[str] | None) -> list[str]:
    """``"water,red"`` or ``["water", "red"]`` → ``["water", "red"]`` (blanks dropped)."""
    if text is None:
        return []
    parts = text if isinstance(text, list) else [text]
    return [q.strip() for p in parts for q in re.split(r",", p) if q.strip()]
