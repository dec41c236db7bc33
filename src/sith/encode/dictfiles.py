"""Encoded-dictionary files: the seed's plain ``(N, e)`` tensor, our sidecar, the old dict
(docs/method.md §4).

See :mod:`sith.encode.text` for when a file is reused. This module reads and checks
files; :func:`sith.encode.text.encode_pool` makes them.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch
import torch.nn.functional as F
from torch import Tensor

from sith import paths
from sith.encode.images import autocast
from sith.encode.pools import Pool
from sith.encode.seedfiles import read_sidecar, same_model
from sith.errors import ConfigError, FormatError, ModelMismatch, SithError
from sith.io import load_pt
from sith.load.weights import ModelInfo

logger = logging.getLogger(__name__)

FORMAT = "sith-encoded-dictionary/2"
LEGACY_FORMAT = "sith-encoded-dictionary/1"
SPOT_CHECK_MIN_COSINE = 0.99
MATCH_KEYS = ("pool_hash", "n_concepts", "model_name", "pretrained", "model_fingerprint", "template")


class TextEncoder(Protocol):
    """What :func:`encode_pool` needs from a model handle (``sith.load.LoadedClip`` has it)."""

    info: ModelInfo
    device: torch.device

    def encode_text(self, texts: list[str]) -> Tensor:
        """``(n, e)`` unnormalised text embeddings of one batch."""
        ...


@dataclass(frozen=True)
class EncodedPool:
    """A pool encoded by one model's text tower.

    Attributes:
        name: pool name.
        concepts: the ``N`` concept strings, in pool order.
        embeddings: ``(N, e)`` float32 ``encode_text`` outputs, **not** normalised (the
            seed's dictionary; files of the earlier sith format hold unit rows). Every
            consumer normalises rows first (docs/method.md §4).
        pool_hash: the pool's content hash.
        model_fingerprint: ``ModelInfo.fingerprint`` of the encoding model (``""``: unknown,
            a seed-made file).
        template: prompt template (``None``: concepts encoded as written).
        model_name: ``ModelInfo.model_name``.
        pretrained: ``ModelInfo.pretrained``.
    """

    name: str
    concepts: list[str]
    embeddings: Tensor
    pool_hash: str
    model_fingerprint: str
    template: str | None = None
    model_name: str = ""
    pretrained: str = ""

    def __len__(self) -> int:
        return len(self.concepts)


def template_tag(template: str) -> str:
    """8 hex digits naming a template in file names."""
    return hashlib.sha256(template.encode("utf-8")).hexdigest()[:8]


def encoded_path(data_dir: str | Path, info: ModelInfo, pool_name: str, template: str | None) -> Path:
    """The cache file: the seed's ``dictionaries/NAME.pt``, or ``NAME.tpl-<hex>.pt`` with a template."""
    base = paths.encoded_dictionary_path(data_dir, info.model_name, info.pretrained, pool_name)
    return base if template is None else base.with_name(f"{base.stem}.tpl-{template_tag(template)}.pt")


def meta_mismatch(found: dict[str, Any], want: dict[str, Any]) -> str:
    """``""`` if the keys that decide reuse agree, else a short description of the first diff."""
    for key in MATCH_KEYS:
        if found.get(key) != want.get(key):
            return f"{key} is {found.get(key)!r}, expected {want.get(key)!r}"
    return ""


def encode_batch(clip: TextEncoder, texts: list[str], *, precision: str) -> Tensor:
    """``(n, e)`` float32 unnormalised embeddings of one batch of strings."""
    with torch.no_grad(), autocast(torch.device(clip.device), precision):
        emb = clip.encode_text(texts)
    return emb.detach().float().cpu()


def spot_check(clip: TextEncoder, strings: list[str], rows: Tensor, *, precision: str) -> tuple[float, int]:
    """``(min cosine, width e)`` between stored rows and a fresh encoding of the first and last strings."""
    picks = sorted({0, len(strings) - 1})
    fresh = F.normalize(encode_batch(clip, [strings[i] for i in picks], precision=precision), dim=-1)
    if rows.ndim != 2 or rows.shape[1] != fresh.shape[1] or rows.shape[0] != len(strings):
        return -1.0, int(fresh.shape[1])
    return float((fresh * F.normalize(rows[picks].float(), dim=-1)).sum(-1).min()), int(fresh.shape[1])


def pool_result(pool: Pool, rows: Tensor, meta: dict[str, Any] | None) -> EncodedPool:
    meta = meta or {}
    return EncodedPool(
        name=pool.name,
        concepts=list(pool.concepts),
        embeddings=rows.float(),
        pool_hash=pool.hash,
        model_fingerprint=meta.get("model_fingerprint", ""),
        template=meta.get("template"),
        model_name=meta.get("model_name", ""),
        pretrained=meta.get("pretrained", ""),
    )




def check_against(path: Path, meta: dict[str, Any], pool: Pool, expect_model: ModelInfo | None) -> None:
    if meta.get("pool_hash") != pool.hash:
        raise SithError(
            f"{path} encodes pool hash {meta.get('pool_hash')}, not {pool.hash} (the pool "
            "changed); re-encode the dictionary with `sith encode-dictionary`"
        )
    if expect_model is not None and not same_model(meta, expect_model):
        raise SithError(
            f"{path} was encoded by model {meta.get('model_name')}/{meta.get('pretrained')} "
            f"(fingerprint {meta.get('model_fingerprint')}), not {expect_model.model_name}/"
            f"{expect_model.pretrained} ({expect_model.fingerprint}); re-encode it"
        )


def load_encoded(
    path: str | Path,
    pool: Pool,
    *,
    expect_model: ModelInfo | None = None,
    expect_width: int | None = None,
) -> EncodedPool:
    """Read an encoded dictionary for ``pool``: ours (sidecar), the seed's plain tensor, or the old dict.

    Args:
        path: the ``.pt`` file.
        pool: the pool it encodes (gives the concepts; its hash and size are checked).
        expect_model: refuse a file whose metadata names another model.
        expect_width: refuse a tensor whose width is not ``e`` (all a seed file allows).

    Raises:
        SithError: unreadable file, wrong shape (width or row count), another pool or model.
    """
    path = Path(path)
    data = load_pt(path, what="encoded dictionary")
    fix = "re-encode it with `sith encode-dictionary --force`"
    if isinstance(data, dict) and isinstance(data.get("meta"), dict):
        meta, rows = data["meta"], data.get("embeddings")
        if meta.get("format") != LEGACY_FORMAT or not isinstance(rows, Tensor):
            raise FormatError(f"{path} is not a sith encoded dictionary; {fix}", path=path)
        check_against(path, meta, pool, expect_model)
    elif isinstance(data, Tensor):
        rows, meta = data, read_sidecar(path, data)
        if meta is not None:
            check_against(path, meta, pool, expect_model)
        else:
            logger.info("encoded dictionary %s has no sith sidecar (seed-made?): provenance unknown", path)
    else:
        raise SithError(f"{path} is not an encoded dictionary ({type(data).__name__}); {fix}")
    if rows.ndim != 2 or rows.shape[0] != len(pool):
        raise SithError(
            f"{path} has shape {tuple(rows.shape)} but pool {pool.name} has {len(pool)} concepts "
            f"(expected ({len(pool)}, e)); it encodes another pool: {fix}"
        )
    if expect_width is not None and rows.shape[1] != expect_width:
        raise ModelMismatch(
            f"{path} has width {rows.shape[1]} but this model's text tower gives {expect_width}; "
            f"it was made with another model: {fix}"
        )
    return pool_result(pool, rows, meta)


def reusable_encoding(
    clip: TextEncoder, target: Path, meta: dict[str, Any], pool: Pool, strings: list[str], *, precision: str
) -> EncodedPool | None:
    """The cached encoding at ``target`` if it can be reused (module doc); SithError for a bad seed file."""
    if not target.exists():
        return None
    try:
        data = load_pt(target, what="encoded dictionary")
    except SithError as exc:
        logger.warning("rebuilding %s: %s", target, exc)
        return None
    found: dict[str, Any] | None = None
    if isinstance(data, dict) and isinstance(data.get("meta"), dict):  # the earlier sith format
        found, rows = data["meta"], data.get("embeddings")
        why = "" if found.get("format") == LEGACY_FORMAT else "unknown format"
    elif isinstance(data, Tensor):
        rows, found = data, read_sidecar(target, data)
        why = ""
    else:
        found, rows, why = {}, None, f"not a tensor ({type(data).__name__})"
    if found is None:  # a plain tensor without sidecar: seed-made
        return seed_file(clip, target, rows, meta, pool, strings, precision=precision)
    why = why or meta_mismatch(found, meta)
    if not why and isinstance(rows, Tensor):
        cos, _ = spot_check(clip, strings, rows, precision=precision)
        if cos >= SPOT_CHECK_MIN_COSINE:
            logger.info("reusing encoded dictionary %s", target)
            return pool_result(pool, rows, found)
        why = f"spot check cosine {cos:.4f} < {SPOT_CHECK_MIN_COSINE} (text tower changed)"
    logger.warning("rebuilding encoded dictionary %s: %s", target, why)
    return None


def seed_file(
    clip: TextEncoder, target: Path, rows: Tensor, meta: dict[str, Any], pool: Pool, strings: list[str],
    *, precision: str,
) -> EncodedPool:
    """Reuse a seed-made plain tensor after checking its shape and a spot check; else refuse."""
    fix = f"move {target.name} away or pass {{on}} to re-encode"
    cos, width = spot_check(clip, strings, rows, precision=precision)
    if rows.ndim != 2 or rows.shape[1] != width:
        raise ConfigError(
            "force",
            f"{target} (no sith sidecar: seed-made?) has shape {tuple(rows.shape)} but this model "
            f"encodes width {width}; it was made with another model: {fix}"
        )
    if rows.shape[0] != len(pool):
        raise ConfigError(
            "force",
            f"{target} (no sith sidecar: seed-made?) has {rows.shape[0]} rows but pool {pool.name} "
            f"has {len(pool)} concepts; it encodes another pool: {fix}"
        )
    if cos < SPOT_CHECK_MIN_COSINE:
        raise ConfigError(
            "force",
            f"{target} (no sith sidecar: seed-made?) does not match this model's encoding of pool "
            f"{pool.name} (spot-check cosine {cos:.3f}); another model, pool order or template: {fix}"
        )
    logger.info("reusing seed-made dictionary %s (no sidecar: provenance unknown, shape and spot "
                "check agree)", target)
    return pool_result(pool, rows, {**meta, "model_fingerprint": ""})
