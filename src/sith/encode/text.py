"""Encode a concept pool with the model's own text tower, cached and resumable (METHOD.md §3).

:func:`encode_pool` turns a :class:`~sith.encode.pools.Pool` of ``N`` concepts into
``N`` unit rows ``(N, e)`` of the joint space and caches them at
``data/models/{model}/{pretrained}/dictionaries/NAME.pt``. :func:`sith.encode.atoms.dictionary_atoms` then
makes the dictionary atoms the solvers use.

Prompt template: none by default — each concept is encoded as written, as SpLiCE and
TextSpan do; ``template="a photo of {}"`` wraps every concept.

Cache file (a dict readable with ``weights_only=True``)::

    {"embeddings": (N, e) float32 unit rows, "concepts": list[str], "meta": {...}}

``meta`` holds the pool name, hash and size, the model's name, pretrained tag and
fingerprint, the template and the precision. A cache is reused only if pool hash,
size, model name, tag, fingerprint and template all match *and* a spot check —
re-encoding the first and last concepts now — agrees with the stored rows (cosine ≥
0.99; the fingerprint covers the vision tower only, the spot check covers the text
tower). Anything else is logged and rebuilt, never silently reused.

Progress is checkpointed atomically to ``NAME.partial.pt`` next to the target (same
meta plus ``done``) when ``checkpoint_seconds`` have passed since the last save and at
least 10× the last save's duration (so saving never costs more than ~10 % of the run);
an interrupted run resumes from it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch
import torch.nn.functional as F
from torch import Tensor
from tqdm.auto import tqdm

from sith import paths
from sith.encode.pools import Pool, read_pool
from sith.errors import SithError
from sith.io import load_pt, save_pt
from sith.load.weights import ModelInfo

logger = logging.getLogger(__name__)

FORMAT = "sith-encoded-dictionary/1"
SPOT_CHECK_MIN_COSINE = 0.99
_MATCH_KEYS = (
    "format",
    "pool_hash",
    "n_concepts",
    "model_name",
    "pretrained",
    "model_fingerprint",
    "template",
)


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
        embeddings: ``(N, e)`` float32, L2-normalised rows (before gap bridging).
        pool_hash: the pool's content hash.
        model_fingerprint: ``ModelInfo.fingerprint`` of the encoding model.
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


# --------------------------------------------------------------------------- helpers


def apply_template(concepts: list[str], template: str | None) -> list[str]:
    """The strings fed to the text tower: ``template.format(c)`` or the concepts as is."""
    if template is None:
        return list(concepts)
    return [template.replace("{}", c) for c in concepts]


def _check_template(template: str | None) -> None:
    if template is not None and template.count("{}") != 1:
        raise SithError(
            f"template {template!r} must contain '{{}}' exactly once, e.g. 'a photo of {{}}'"
        )


def _cache_meta(clip: TextEncoder, pool: Pool, template: str | None) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "pool_name": pool.name,
        "pool_hash": pool.hash,
        "n_concepts": len(pool.concepts),
        "model_name": clip.info.model_name,
        "pretrained": clip.info.pretrained,
        "model_fingerprint": clip.info.fingerprint,
        "template": template,
    }


def _meta_mismatch(found: dict[str, Any], want: dict[str, Any]) -> str:
    """``""`` if the keys that decide reuse agree, else a short description of the first diff."""
    for key in _MATCH_KEYS:
        if found.get(key) != want.get(key):
            return f"{key} is {found.get(key)!r}, expected {want.get(key)!r}"
    return ""


def _use_fp16(clip: TextEncoder, fp16: bool | None) -> bool:
    on_cuda = torch.device(clip.device).type == "cuda"
    if fp16 is None:
        return on_cuda
    if fp16 and not on_cuda:
        raise SithError("fp16 encoding needs a CUDA device; pass fp16=False (or --no-fp16)")
    return bool(fp16)


def _encode_batch(clip: TextEncoder, texts: list[str], *, fp16: bool) -> Tensor:
    """``(n, e)`` float32 unit rows for one batch of strings."""
    ctx = torch.autocast("cuda", dtype=torch.float16) if fp16 else contextlib.nullcontext()
    with torch.no_grad(), ctx:
        emb = clip.encode_text(texts)
    return F.normalize(emb.detach().float().cpu(), dim=-1)


def _spot_check(clip: TextEncoder, strings: list[str], rows: Tensor, *, fp16: bool) -> float:
    """Min cosine between the stored rows and a fresh encoding of the first and last strings."""
    picks = sorted({0, len(strings) - 1})
    fresh = _encode_batch(clip, [strings[i] for i in picks], fp16=fp16)
    return float((fresh * rows[picks]).sum(-1).min())


# --------------------------------------------------------------------------- cache I/O


def _from_file(data: dict[str, Any]) -> EncodedPool:
    meta = data["meta"]
    return EncodedPool(
        name=meta["pool_name"],
        concepts=list(data["concepts"]),
        embeddings=data["embeddings"],
        pool_hash=meta["pool_hash"],
        model_fingerprint=meta["model_fingerprint"],
        template=meta["template"],
        model_name=meta["model_name"],
        pretrained=meta["pretrained"],
    )


def _read_cache(path: Path) -> dict[str, Any] | None:
    """The cache dict, or ``None`` (logged) if it is unreadable or not ours."""
    try:
        data = load_pt(path, what="encoded dictionary")
    except SithError as exc:
        logger.warning("ignoring %s: %s", path, exc)
        return None
    if not isinstance(data, dict) or not isinstance(data.get("meta"), dict):
        logger.warning("ignoring %s: not a sith encoded dictionary", path)
        return None
    return data


def load_encoded(
    path: str | Path,
    *,
    expect_model: ModelInfo | None = None,
    expect_pool_hash: str | None = None,
) -> EncodedPool:
    """Load an encoded pool file, refusing one made for another model or pool.

    Args:
        path: a ``.pt`` written by :func:`encode_pool`.
        expect_model: if given, its fingerprint (or, when it has none, name and tag)
            must match the file's.
        expect_pool_hash: if given, must equal the file's pool hash.

    Raises:
        SithError: unreadable file, or a mismatch (the message names both values).
    """
    path = Path(path)
    data = load_pt(path, what="encoded dictionary")
    if not isinstance(data, dict) or data.get("meta", {}).get("format") != FORMAT:
        raise SithError(f"{path} is not a sith encoded dictionary; re-encode it with sith")
    enc = _from_file(data)
    if expect_pool_hash is not None and enc.pool_hash != expect_pool_hash:
        raise SithError(
            f"{path} encodes pool hash {enc.pool_hash}, not {expect_pool_hash} (the pool "
            "changed); re-encode the dictionary"
        )
    if expect_model is not None:
        want = expect_model.fingerprint or f"{expect_model.model_name}/{expect_model.pretrained}"
        have = enc.model_fingerprint if expect_model.fingerprint else (
            f"{enc.model_name}/{enc.pretrained}"
        )
        if want != have:
            raise SithError(
                f"{path} was encoded by model {enc.model_name}/{enc.pretrained} "
                f"(fingerprint {enc.model_fingerprint}), not {expect_model.model_name}/"
                f"{expect_model.pretrained} ({expect_model.fingerprint}); re-encode it"
            )
    return enc


# --------------------------------------------------------------------------- encoding


def _resume_state(partial: Path, meta: dict[str, Any], n: int) -> tuple[Tensor | None, int]:
    """``(embeddings so far, done)`` from a matching partial file, else ``(None, 0)``."""
    if not partial.exists():
        return None, 0
    data = _read_cache(partial)
    if data is not None:
        why = _meta_mismatch(data["meta"], meta)
        done = int(data.get("done", 0))
        emb = data.get("embeddings")
        if not why and isinstance(emb, Tensor) and emb.shape[0] == done and 0 < done <= n:
            logger.info("resuming %s from %d/%d concepts", partial, done, n)
            return emb, done
        logger.info("discarding stale partial %s (%s)", partial, why or "inconsistent")
    partial.unlink(missing_ok=True)
    return None, 0


def _reusable(
    clip: TextEncoder, target: Path, meta: dict[str, Any], strings: list[str], *, fp16: bool
) -> EncodedPool | None:
    """The cached pool at ``target`` if it matches ``meta`` and passes the spot check."""
    if not target.exists():
        return None
    data = _read_cache(target)
    if data is None:
        return None
    why = _meta_mismatch(data["meta"], meta)
    if not why:
        cos = _spot_check(clip, strings, data["embeddings"], fp16=fp16)
        if cos >= SPOT_CHECK_MIN_COSINE:
            logger.info("reusing encoded dictionary %s", target)
            return _from_file(data)
        why = f"spot check cosine {cos:.4f} < {SPOT_CHECK_MIN_COSINE} (text tower changed)"
    logger.warning("rebuilding encoded dictionary %s: %s", target, why)
    return None


def encode_pool(
    clip: TextEncoder,
    pool: Pool | str,
    *,
    data_dir: str | Path | None,
    batch_size: int = 256,
    template: str | None = None,
    fp16: bool | None = None,
    progress: bool = True,
    checkpoint_seconds: float = 30.0,
) -> EncodedPool:
    """Encode every concept of ``pool`` with ``clip``'s text tower (cached, resumable).

    Args:
        clip: the model handle (:class:`TextEncoder`).
        pool: a :class:`Pool` or a pool name/path for :func:`read_pool`.
        data_dir: data root for the cache; ``None`` encodes without caching.
        batch_size: concepts per forward pass.
        template: prompt with one ``{}``; ``None`` encodes concepts as written.
        fp16: fp16 autocast; default on CUDA, fp32 on CPU. Stored rows are fp32.
        progress: tqdm progress bar.
        checkpoint_seconds: minimum time between partial saves, stretched to 10x the last
            save's duration; 0 saves after every batch.

    Returns:
        :class:`EncodedPool` with ``(N, e)`` float32 unit rows.
    """
    if batch_size < 1:
        raise SithError(f"batch_size must be >= 1, got {batch_size}; pass --batch-size 256")
    _check_template(template)
    half = _use_fp16(clip, fp16)
    if isinstance(pool, str):
        pool = read_pool(pool, data_dir=data_dir or paths.DEFAULT_DATA_DIR)
    strings = apply_template(pool.concepts, template)
    meta = _cache_meta(clip, pool, template)
    target = partial = None
    if data_dir is not None:
        target = paths.encoded_dictionary_path(
            data_dir, clip.info.model_name, clip.info.pretrained, pool.name
        )
        partial = target.with_name(target.stem + ".partial.pt")
        cached = _reusable(clip, target, meta, strings, fp16=half)
        if cached is not None:
            return cached
    n = len(strings)
    prev, done = _resume_state(partial, meta, n) if partial is not None else (None, 0)
    chunks: list[Tensor] = [prev] if prev is not None else []
    last_save, save_cost = time.monotonic(), 0.0
    bar = tqdm(total=n, initial=done, unit="concept", desc=f"encode {pool.name}",
               disable=not progress)
    try:
        for start in range(done, n, batch_size):
            chunks.append(_encode_batch(clip, strings[start:start + batch_size], fp16=half))
            done = min(start + batch_size, n)
            bar.update(done - start)
            wait = max(checkpoint_seconds, 10.0 * save_cost) if checkpoint_seconds > 0 else 0.0
            if partial is not None and done < n and time.monotonic() - last_save >= wait:
                t0 = time.monotonic()
                chunks = [torch.cat(chunks)]
                save_pt({"embeddings": chunks[0], "done": done, "meta": meta}, partial)
                last_save = time.monotonic()
                save_cost = last_save - t0
    finally:
        bar.close()
    embeddings = torch.cat(chunks).contiguous()
    meta = {**meta, "dim": int(embeddings.shape[1]), "precision": "fp16" if half else "fp32"}
    result = {"embeddings": embeddings, "concepts": list(pool.concepts), "meta": meta}
    if target is not None:
        save_pt(result, target)
        if partial is not None and partial.exists():
            os.remove(partial)
        logger.info("wrote encoded dictionary %s (%d x %d)", target, *embeddings.shape)
    return _from_file(result)
