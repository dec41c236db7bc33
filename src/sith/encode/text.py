"""Encode a concept pool with the model's own text tower, cached and resumable (docs/method.md §4).

:func:`encode_pool` turns a :class:`~sith.encode.pools.Pool` of ``N`` concepts into the
``(N, e)`` **unnormalised** ``encode_text`` outputs of the raw strings (the seed's
dictionary; downstream normalises) and caches them in the seed's layout:

* ``data/models/{model}/{pretrained}/dictionaries/NAME.pt`` — a plain ``(N, e)`` float32
  tensor, exactly what the seed's scripts write and read;
* ``NAME.json`` beside it — pool name, hash and size, model name/tag/fingerprint,
  template, precision, and the tensor's hash (:mod:`sith.encode.seedfiles`).

A prompt template (a project option; the seed encodes raw strings) writes another file,
``NAME.tpl-<8 hex of the template>.pt``: a templated and a raw encoding never overwrite
each other.

Reuse: our file is reused only if pool hash, size, model name, tag, fingerprint and
template match *and* a spot check — re-encoding the first and last concepts now —
agrees with the stored rows (cosine ≥ 0.99; the fingerprint covers the vision tower
only, the spot check the text tower); otherwise it is rebuilt. A plain tensor without
sidecar (seed-made) is reused if its shape fits (width ``e``, one row per concept) and
the spot check passes, with the provenance logged as unknown; if not, it is refused with
a one-line error (never overwritten unless ``force``). The earlier sith format (a dict)
is still read.

Concepts are encoded shortest first (:func:`length_order`; the tower's context is cut to
each batch's longest text, so sorted batches do less work) and the rows put back in pool
order. Under torchrun (:mod:`sith.encode.distributed`) each rank encodes a contiguous
run of those batches (:func:`batch_slice`: the batches one process would encode, so the
same rows); the slices are gathered and rank 0 writes the file. Progress is checkpointed atomically
to ``NAME.partial.pt`` (``NAME.partial-{r}of{W}.pt`` per rank) when
``checkpoint_seconds`` have passed since the last save and at least 10× the last save's
duration; an interrupted run resumes from it.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from tqdm.auto import tqdm

from sith import paths
from sith.encode.dictfiles import (
    FORMAT,
    EncodedPool,
    TextEncoder,
    encode_batch,
    encoded_path,
    load_encoded,
    meta_mismatch,
    pool_result,
    reusable_encoding,
    template_tag,
)
from sith.encode.distributed import (
    DistContext,
    all_gather_rows,
    all_reduce_max,
    barrier,
    broadcast_object,
    broadcast_rows,
    checked,
    shard_slice,
)
from sith.encode.images import PRECISIONS
from sith.encode.pools import Pool, read_pool
from sith.encode.seedfiles import model_meta, save_tensor
from sith.errors import ConfigError, SithError
from sith.io import load_pt, save_pt

logger = logging.getLogger(__name__)

__all__ = [
    "EncodedPool",
    "TextEncoder",
    "apply_template",
    "default_precision",
    "encode_pool",
    "encoded_path",
    "load_encoded",
    "template_tag",
]

# --------------------------------------------------------------------------- helpers


#: The format tag of an interrupted encoding's ``NAME.partial.pt``.
PARTIAL_FORMAT = "sith-encoding-partial/1"

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


def default_precision(device: torch.device | str, precision: str | None) -> str:
    """``precision`` validated; ``None`` → ``fp16`` on CUDA, ``fp32`` elsewhere."""
    if precision is None:
        return "fp16" if torch.device(device).type == "cuda" else "fp32"
    if precision not in PRECISIONS:
        raise SithError(f"unknown precision {precision!r}; available: {', '.join(PRECISIONS)}")
    return precision


def context_overflow(tokenizer: Any, strings: list[str]) -> tuple[int, int]:
    """``(how many strings exceed the text tower's context, its length in tokens)``; ``(0, 0)``
    when the tokenizer is not one this knows (open_clip's BPE, a transformers tokenizer).

    Only strings of more UTF-8 bytes than the context can exceed it (a token covers ≥ 1 byte),
    so a pool of words is checked without tokenizing anything.
    """
    ctx = getattr(tokenizer, "context_length", None) or getattr(tokenizer, "model_max_length", None)
    if not isinstance(ctx, int) or not 2 < ctx < 1_000_000:
        return 0, 0
    long = [s for s in strings if len(s.encode("utf-8")) > ctx - 2]
    if hasattr(tokenizer, "model_input_names"):  # transformers: ids include the special tokens
        return sum(len(tokenizer(s)["input_ids"]) > ctx for s in long), ctx
    if hasattr(tokenizer, "encode") and hasattr(tokenizer, "byte_encoder"):  # open_clip's BPE
        return sum(len(tokenizer.encode(s)) > ctx - 2 for s in long), ctx
    return 0, 0


def _warn_truncated(clip: TextEncoder, strings: list[str]) -> None:
    n, ctx = context_overflow(getattr(clip, "tokenizer", None), strings)
    if n:
        logger.warning(
            "%d of %d concepts are longer than the text tower's context (%d tokens) and are encoded "
            "cut to it; shorten them for explanations of what they say", n, len(strings), ctx
        )


def _cache_meta(clip: TextEncoder, pool: Pool, template: str | None) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "pool_name": pool.name,
        "pool_hash": pool.hash,
        "n_concepts": len(pool.concepts),
        **model_meta(clip.info),
        "template": template,
    }


# --------------------------------------------------------------------------- encoding


def _resume_state(partial: Path, meta: dict[str, Any], n: int) -> tuple[Tensor | None, int]:
    """``(embeddings so far, done)`` from a matching partial file, else ``(None, 0)``."""
    if not partial.exists():
        return None, 0
    try:
        data = load_pt(partial, what="partial encoding")
    except SithError as exc:
        logger.warning("ignoring %s: %s", partial, exc)
        data = None
    if isinstance(data, dict) and isinstance(data.get("meta"), dict):
        why = meta_mismatch(data["meta"], meta) or (
            "" if data["meta"].get("slice") == meta.get("slice") else "another slice") or (
            "" if data["meta"].get("order") == meta.get("order") else "another batch order")
        done = int(data.get("done", 0))
        emb = data.get("embeddings")
        if not why and isinstance(emb, Tensor) and emb.shape[0] == done and 0 < done <= n:
            logger.info("resuming %s from %d/%d concepts", partial, done, n)
            return emb, done
        logger.info("discarding stale partial %s (%s)", partial, why or "inconsistent")
    partial.unlink(missing_ok=True)
    return None, 0


def _partial_path(target: Path, ctx: DistContext) -> Path:
    suffix = ".partial.pt" if not ctx.active else f".partial-{ctx.rank}of{ctx.world_size}.pt"
    return target.with_name(target.stem + suffix)


def length_order(strings: list[str]) -> list[int]:
    """Positions of ``strings`` shortest first (UTF-8 bytes, stable): batches of similar length.

    The text tower's context is cut to each batch's longest text
    (:func:`sith.load.openclip.encode_text`), so sorted batches do less work; the rows are
    put back in pool order, the encodings are the same to float32 rounding.
    """
    return sorted(range(len(strings)), key=lambda i: len(strings[i].encode("utf-8")))


def _encode_slice(
    clip: TextEncoder, strings: list[str], partial: Path | None, meta: dict[str, Any], *,
    batch_size: int, precision: str, progress: bool, checkpoint_seconds: float, desc: str,
) -> Tensor | None:
    """``(n, e)`` rows of ``strings`` in batches of ``batch_size`` (``None`` when empty),
    checkpointed to ``partial``."""
    n = len(strings)
    prev, done = _resume_state(partial, meta, n) if partial is not None else (None, 0)
    chunks: list[Tensor] = [prev] if prev is not None else []
    last_save, save_cost = time.monotonic(), 0.0
    bar = tqdm(total=n, initial=done, unit="concept", desc=desc, disable=not progress)
    try:
        for start in range(done, n, batch_size):
            chunks.append(encode_batch(clip, strings[start:start + batch_size], precision=precision))
            done = min(start + batch_size, n)
            bar.update(done - start)
            wait = max(checkpoint_seconds, 10.0 * save_cost) if checkpoint_seconds > 0 else 0.0
            if partial is not None and done < n and time.monotonic() - last_save >= wait:
                t0 = time.monotonic()
                chunks = [torch.cat(chunks)]
                state = {"format": PARTIAL_FORMAT, "embeddings": chunks[0], "done": done, "meta": meta}
                save_pt(state, partial)
                last_save = time.monotonic()
                save_cost = last_save - t0
    finally:
        bar.close()
    return torch.cat(chunks).contiguous() if chunks else None


def batch_slice(n: int, batch_size: int, ctx: DistContext) -> tuple[int, int]:
    """Rank ``r``'s ``[lo, hi)`` of ``n`` items, cut at batch boundaries: every rank encodes
    exactly the batches one process would (so the rows are the same bits)."""
    batches = -(-n // batch_size)
    lo, hi = shard_slice(batches, ctx)
    return min(n, lo * batch_size), min(n, hi * batch_size)


def encode_pool(
    clip: TextEncoder,
    pool: Pool | str,
    *,
    data_dir: str | Path | None,
    batch_size: int = 256,
    template: str | None = None,
    precision: str | None = None,
    progress: bool = True,
    checkpoint_seconds: float = 30.0,
    force: bool = False,
    dist: DistContext | None = None,
) -> EncodedPool:
    """Encode every concept of ``pool`` with ``clip``'s text tower (cached, resumable, distributable).

    Args:
        clip: the model handle (:class:`TextEncoder`), on this rank's device.
        pool: a :class:`Pool` or a pool name/path for :func:`read_pool`.
        data_dir: data root for the cache; ``None`` encodes without caching.
        batch_size: concepts per forward pass.
        template: prompt with one ``{}``; ``None`` (the seed) encodes concepts as written.
        precision: ``fp32 | fp16 | bf16`` autocast; default fp16 on CUDA, fp32 on CPU.
            Stored rows are float32.
        progress: tqdm progress bar (rank 0).
        checkpoint_seconds: minimum time between partial saves, stretched to 10x the last
            save's duration; 0 saves after every batch.
        force: re-encode even if a reusable file exists (and replace it).
        dist: the torchrun context (:mod:`sith.encode.distributed`); ``None``: alone.

    Returns:
        :class:`EncodedPool` with ``(N, e)`` float32 unnormalised rows, on every rank.
    """
    ctx = dist or DistContext(device=torch.device(clip.device))
    if batch_size < 1:
        raise ConfigError("batch_size", f"{{name}} must be >= 1, got {batch_size}; pass e.g. 256")
    _check_template(template)
    precision = default_precision(clip.device, precision)
    if isinstance(pool, str):
        pool = read_pool(pool, data_dir=data_dir or paths.DEFAULT_DATA_DIR)
    strings = apply_template(pool.concepts, template)
    meta = _cache_meta(clip, pool, template)
    target = encoded_path(data_dir, clip.info, pool.name, template) if data_dir is not None else None
    if target is not None and not force:
        def lookup() -> EncodedPool | None:
            return reusable_encoding(clip, target, meta, pool, strings, precision=precision)

        cached = checked(ctx, lambda: lookup() if ctx.is_main else None)
        if broadcast_object(ctx, cached is not None):
            rows = broadcast_rows(ctx, cached.embeddings if cached is not None else None)
            return cached if cached is not None else pool_result(pool, rows, meta)
    if ctx.is_main:
        _warn_truncated(clip, strings)  # once per encoding, before the work
    started = time.monotonic()
    order = length_order(strings)
    ordered = [strings[i] for i in order]
    lo, hi = batch_slice(len(ordered), batch_size, ctx)
    partial = _partial_path(target, ctx) if target is not None else None
    part = _encode_slice(
        clip, ordered[lo:hi], partial, {**meta, "slice": [lo, hi], "order": "utf8-length"},
        batch_size=batch_size,
        precision=precision, progress=progress and ctx.is_main, checkpoint_seconds=checkpoint_seconds,
        desc=f"encode {pool.name}",
    )
    width = all_reduce_max(ctx, 0 if part is None else int(part.shape[1]))
    rows = all_gather_rows(ctx, part if part is not None else torch.zeros(0, width))
    embeddings = torch.empty_like(rows)
    embeddings[torch.tensor(order, dtype=torch.long)] = rows  # back to pool order
    meta = {**meta, "dim": int(embeddings.shape[1]), "precision": precision, "normalized": False,
            "world_size": ctx.world_size, "encode_seconds": round(time.monotonic() - started, 3)}
    if target is not None and ctx.is_main:
        save_tensor(embeddings, target, meta)
        logger.info("wrote encoded dictionary %s (%d x %d)", target, *embeddings.shape)
    barrier(ctx)
    if partial is not None and partial.exists():
        os.remove(partial)
    return pool_result(pool, embeddings, meta)
