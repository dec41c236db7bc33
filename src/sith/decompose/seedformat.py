"""Reading decomposition files made by the seed's own code (``scripts/decompose.py``).

The seed saves a bare dict ``{"scores", "indices"}`` — ``(num_heads, rank, K)``, or
``(num_heads·rank, K)`` as its script writes it — with no configuration. Everything else
is recovered from where the file lies and what is beside it:

* the name ``layer-{l}_{right|left}{_|-}{foldln|nofoldln}_{dict}_{method}_sparsity-{K}.pt``
  gives layer, vector side, folding, dictionary, method and K;
* the seed layout ``DATA_DIR/models/{model}/{pretrained}/decompositions/`` gives the model,
  and ``DATA_DIR/dictionaries/{dict}.txt`` the concept strings: the seed indexes the lines
  of that file as its ``encode_dictionary.py`` reads them (``read().splitlines()``, no
  cleaning), so this reader does the same;
* the downloader's ``X.source.json`` (:mod:`sith.resources.provenance`) gives the Drive ids,
  sha256, date and the head count.

Not stored by the seed, so unknown here: singular values, fidelity (``nan``), the model
fingerprint and the dictionary's content hash (``""``). Polarity is the seed's (``+``).
Unused slots (weight 0) get index −1, this project's convention.
"""

from __future__ import annotations

import logging
import math
import re
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from sith.errors import SithError
from sith.io import read_text
from sith.resources.provenance import ORIGINAL, SEED_DOWNLOAD, describe, read_provenance

logger = logging.getLogger(__name__)

FORMAT = "seed-decomposition"
SEED_NAME = re.compile(
    r"^layer-(?P<layer>\d+)_(?P<sv>left|right)[_-](?P<fold>foldln|nofoldln)_(?P<rest>.+)"
    r"_sparsity-(?P<k>\d+)\.pt$"
)


def is_seed_dict(data: Any) -> bool:
    """A dict with ``scores`` and ``indices`` tensors and no sith ``format``: the seed's file."""
    return (
        isinstance(data, dict)
        and "format" not in data
        and isinstance(data.get("scores"), Tensor)
        and isinstance(data.get("indices"), Tensor)
    )


def parse_seed_name(name: str) -> dict[str, Any]:
    """Layer, side, folding, dictionary, method and K from a seed decomposition file name."""
    m = SEED_NAME.match(name)
    if not m or "_" not in m["rest"]:
        raise SithError(
            f"{name} is not named like a seed decomposition "
            "(layer-{l}_{right|left}_{foldln|nofoldln}_{dictionary}_{method}_sparsity-{K}.pt); "
            "keep the seed's file name"
        )
    dictionary, method = m["rest"].rsplit("_", 1)
    return {"layer": int(m["layer"]), "sv_type": m["sv"], "fold_ln": m["fold"] == "foldln",
            "dictionary": dictionary, "method": method, "sparsity": int(m["k"])}


def layout(path: Path) -> tuple[str, str, Path | None]:
    """``(model, pretrained, data_dir)`` from ``DATA_DIR/models/M/P/decompositions/file``."""
    p = path.resolve()
    if len(p.parents) > 4 and p.parent.name == "decompositions" and p.parents[3].name == "models":
        return p.parents[2].name, p.parents[1].name, p.parents[4]
    return "", "", None


def head_count(record: dict[str, Any] | None, model_name: str, pretrained: str) -> int | None:
    if record and isinstance(record.get("num_heads"), int):
        return int(record["num_heads"])
    from sith.resources.seed import SEED_MODEL_DATA

    entry = SEED_MODEL_DATA.get((model_name, pretrained))
    return entry.num_heads if entry else None


def shaped(path: Path, t: Tensor, num_heads: int | None) -> Tensor:
    """``(H, rank, K)`` from the seed's 3-D or flat ``(H·rank, K)`` tensor."""
    if t.ndim == 3:
        return t
    if t.ndim == 2 and num_heads and t.shape[0] % num_heads == 0:
        return t.reshape(num_heads, t.shape[0] // num_heads, t.shape[1])
    raise SithError(
        f"{path} holds codes of shape {tuple(t.shape)} and the head count is unknown "
        "(no provenance file, not a model the seed published); keep it in the seed layout "
        "DATA_DIR/models/MODEL/TAG/decompositions/"
    )


def concept_lines(path: Path, data_dir: Path | None, dictionary: str,
                  decomposition_record: dict[str, Any] | None) -> list[str] | None:
    """The lines of ``DATA_DIR/dictionaries/{dictionary}.txt`` the indices point into, or
    ``None`` (missing, logged). A list derived from the original source is refused when the
    decomposition came from the seed: its lines are not the authors'."""
    text_path = None if data_dir is None else data_dir / "dictionaries" / f"{dictionary}.txt"
    if text_path is None or not text_path.is_file():
        logger.warning("%s: concept list %s missing, showing indices; run `sith download-dictionary "
                       "%s` (the seed's list)", path.name, text_path or f"{dictionary}.txt", dictionary)
        return None
    source = (read_provenance(text_path) or {}).get("source")
    if source == ORIGINAL and (decomposition_record or {}).get("source") == SEED_DOWNLOAD:
        raise SithError(
            f"{path.name} indexes the seed's {dictionary} list, but {text_path} was derived from the "
            f"original source; run `sith download-dictionary {dictionary} --source seed`"
        )
    return read_text(text_path, what="concept list").splitlines()


def seed_record(path: str | Path, data: dict[str, Any]) -> dict[str, Any]:
    """The seed's bare dict → the dict :meth:`LayerDecomposition.from_dict` reads (module doc)."""
    path = Path(path)
    parsed = parse_seed_name(path.name)
    record = read_provenance(path)
    model_name, pretrained, data_dir = layout(path)
    model_name = model_name or (record or {}).get("model_name", "")
    pretrained = pretrained or (record or {}).get("pretrained", "")
    heads = head_count(record, model_name, pretrained)
    scores = shaped(path, data["scores"], heads).float()
    indices = shaped(path, data["indices"], heads).long().clone()
    if scores.shape != indices.shape:
        raise SithError(f"{path} has scores {tuple(scores.shape)} but indices {tuple(indices.shape)}; "
                        "it is damaged, download it again")
    indices[scores == 0] = -1
    lines = concept_lines(path, data_dir, parsed["dictionary"], record)
    used = sorted(set(indices[indices >= 0].tolist()))
    if lines is not None and used and used[-1] >= len(lines):
        raise SithError(
            f"{path.name} uses concept index {used[-1]} but dictionaries/{parsed['dictionary']}.txt has "
            f"{len(lines)} lines: another list; run `sith download-dictionary {parsed['dictionary']} "
            "--source seed`"
        )
    concepts = {i: (lines[i] if lines is not None else f"#{i}") for i in used}
    h, rank, _ = scores.shape
    nan = torch.full((h, rank), math.nan)
    config = {
        "format": FORMAT, "provenance": record, "made_by": describe(record),
        "model_name": model_name, "pretrained": pretrained, "fingerprint": "",
        "rank": rank, "method": parsed["method"], "sparsity": parsed["sparsity"],
        "dictionary": parsed["dictionary"],
        "dictionary_name": parsed["dictionary"], "dictionary_hash": "", "template": None,
        "image_mean": True, "image_mean_hash": "", "sv_type": parsed["sv_type"],
        "fold_ln": parsed["fold_ln"], "polarity": "seed", "atoms": "center", "options": {},
        "layer": parsed["layer"], "concepts_missing": lines is None,
    }
    return {
        "scores": scores, "indices": indices, "singular_values": nan, "fidelity": nan.clone(),
        "polarity": torch.ones(h, rank, dtype=torch.int8), "tied": torch.zeros(h, rank, dtype=torch.bool),
        "concepts": concepts, "config": config,
    }

