"""Assemble the one-file explorer: data as inline JSON + the static template, CSS and JS.

Nothing is fetched when the page is opened: no CDN, no server; it works from ``file://``.
Each layer's data sits in its own ``<script type="application/json">`` block and is parsed
only when that layer is first shown (lazy, so 24-layer models open fast).
"""

from __future__ import annotations

import html
import json
import logging
import os
from dataclasses import replace
from importlib import resources
from pathlib import Path
from typing import Any

from sith import __version__, api
from sith.decompose import DecompositionConfig
from sith.errors import SithError
from sith.explore.data import page_data
from sith.explore.extras import (
    parse_queries,
    read_blur_words,
    read_compare,
    read_edit_log,
    read_judge,
)
from sith.explore.gather import decomposition_dir, find_decompositions
from sith.explore.grounded import load_groundings
from sith.io import save_text
from sith.load.clip import default_names
from sith.paths import DEFAULT_DATA_DIR, model_dir

log = logging.getLogger(__name__)

#: The tag of the page's main JSON block ``sith-data`` (written and read by the same build:
#: it names the layout for anyone extracting the data from a page).
PAGE_FORMAT = "sith-explore-page/1"


def embed_json(obj: Any) -> str:
    """JSON safe inside ``<script>``: every ``<`` escaped (it only occurs inside strings)."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).replace("<", "\\u003c")


def asset(name: str) -> str:
    return resources.files("sith.explore").joinpath("assets", name).read_text(encoding="utf-8")


def render(main: dict[str, Any], layers: dict[int, dict[str, Any]]) -> str:
    """The complete HTML page for ``main`` and per-layer payloads (:mod:`sith.explore.data`)."""
    m = main["meta"]["model"]
    title = f"sith explore · {m.get('model_name')} {m.get('pretrained')}"
    blocks = "\n".join(
        f'<script type="application/json" id="sith-layer-{layer}">{embed_json(p)}</script>'
        for layer, p in layers.items()
    )
    page = asset("explore.html")
    for key, value in (
        ("{{TITLE}}", html.escape(title)),
        ("{{CSS}}", asset("explore.css")),
        ("{{DATA}}", embed_json({"format": PAGE_FORMAT, **main})),
        ("{{LAYERS}}", blocks),
        ("{{JS}}", asset("explore.js")),
    ):
        page = page.replace(key, value)
    return page


def ranked_queries(
    queries: list[str],
    model_name: str,
    pretrained: str,
    groups: list[tuple[DecompositionConfig, list[int]]],
    *,
    sv_type: str,
    top: int,
    data_dir: str | Path,
    device: str,
    progress: bool,
) -> list[dict[str, Any]]:
    """``sith search`` for each query over the explored layers, on one loaded model; each
    group of layers with the full configuration it was decomposed with (dictionary,
    template, atoms, image mean, fold). Hits of the groups are merged, best first."""
    if not queries:
        return []
    ws = api.workspace(model_name, pretrained, data_dir=data_dir, device=device, progress=progress)
    out = []
    for q in queries:
        hits = [
            h
            for config, layers in groups
            for h in ws.search(q, top=top, layers=layers, config=replace(config, sv_type=sv_type))
        ]
        hits.sort(key=lambda x: (-x.cosine, x.layer, x.head, x.index))
        out.append(
            {
                "query": q,
                "hits": [
                    [h.layer, h.head, h.index, h.polarity, round(h.cosine, 4), round(h.singular_value, 4)]
                    for h in hits[:top]
                ],
            }
        )
    return out


def build_explorer(
    model_name: str | None = None,
    pretrained: str | None = None,
    *,
    data_dir: str | Path = DEFAULT_DATA_DIR,
    layers: list[int] | None = None,
    method: str | None = None,
    sparsity: int | None = None,
    dictionary: str | None = None,
    edit_log: str | Path | None = None,
    queries: str | list[str] | None = None,
    top: int = 20,
    blur_words: str | Path | None = None,
    grounding: str | Path | None = None,
    compare: str | Path | None = None,
    judge: str | Path | None = None,
    output: str | Path = "sith.html",
    device: str = "cpu",
    progress: bool = True,
) -> Path:
    """Write the explorer of every decomposed head of a model to ``output`` (one HTML file).

    Decompositions are read from ``data/models/{model}/{pretrained}/decompositions``
    (``layers``/``method``/``sparsity``/``dictionary`` pick among them). Optional:
    an edit log to highlight, ``queries`` ranked with :func:`sith.api.search`, words to
    blur, ``sith ground`` output (default: every folder in ``.../{model}/{pretrained}/grounding/``),
    ``sith compare`` and ``sith judge --json`` results, each read by its format tag
    (:mod:`sith.explore.extras`, :mod:`sith.explore.grounded`).
    All input is checked before anything is written; the page is written atomically.
    """
    model_name, pretrained = default_names(model_name, pretrained)
    if top < 1:
        raise SithError(f"--top must be >= 1, got {top}")
    dset = find_decompositions(
        decomposition_dir(data_dir, model_name, pretrained),
        layers=layers,
        method=method,
        sparsity=sparsity,
        dictionary=dictionary,
    )
    main, per_layer = page_data(dset)
    main["meta"]["sith_version"] = __version__
    main["edits"] = read_edit_log(edit_log, dset.model) if edit_log else None
    main["blur"] = read_blur_words(blur_words) if blur_words else []
    main["grounding"], main["gimages"] = load_groundings(
        grounding,
        model_dir(data_dir, model_name, pretrained) / "grounding",
        {layer: d for (layer, _), d in dset.files.items()},
        dset.model,
    )
    main["compare"] = read_compare(compare) if compare else {}
    main["judge"] = read_judge(judge) if judge else {}
    main["queries"] = ranked_queries(
        parse_queries(queries),
        model_name,
        pretrained,
        dset.layer_groups(),
        sv_type=dset.sv_types[0],
        top=top,
        data_dir=data_dir,
        device=device,
        progress=progress,
    )
    return readable(save_text(render(main, per_layer), output))


def readable(path: Path) -> Path:
    """Give the page the usual permissions (rw-r--r-- under umask 022): the atomic write's
    temporary file is private (0600), but a page is meant to be opened and shared."""
    mask = os.umask(0)
    os.umask(mask)
    path.chmod(0o666 & ~mask)
    return path
