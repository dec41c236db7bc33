"""Decomposition files of one :class:`~sith.pipeline.workspace.Workspace` (docs/method.md §6).

What ``sith decompose`` does with files, as functions of a workspace:

* :func:`stored` — a layer's file, reused only when it was made with exactly the requested
  configuration (never a silent reuse); a file made by the seed's code is used as stored
  when what its name and place say matches (:func:`seed_made`);
* :func:`ensure` — every layer of a configuration, computed where missing;
* :func:`decompose_resumable` — one layer a few heads at a time, checkpointed to
  ``{file}.partial.pt`` so an interrupted layer resumes (:func:`partial_parts`).

Files are read and written through the workspace's store (:mod:`sith.pipeline.store`): in a
dry run (an overlay store) a computed layer stays in memory and no checkpoint is kept.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Protocol

from torch import Tensor
from tqdm.auto import tqdm

from sith.decompose import LayerDecomposition
from sith.decompose.config import CONTENT_FIELDS, HASH_FIELDS, DecompositionConfig
from sith.errors import SithError
from sith.io import load_pt, save_pt
from sith.load.weights import VisionWeights
from sith.pipeline.store import Store

log = logging.getLogger(__name__)

#: The format tag of an interrupted layer's ``{file}.partial.pt``.
PARTIAL_FORMAT = "sith-decomposition-partial/1"
#: Heads decomposed between two saves of an interrupted-layer checkpoint.
HEADS_PER_PIECE = 4

#: Fields a file made by the seed's code records (from its name and place) and a request must match.
SEED_CHECKED = tuple(f for f in CONTENT_FIELDS if f not in HASH_FIELDS)


class WorkspaceLike(Protocol):
    """What these functions use of a workspace (:class:`sith.pipeline.Workspace` is one)."""

    store: Store
    progress: bool

    @property
    def data_dir(self) -> Path: ...

    @property
    def weights(self) -> VisionWeights: ...

    def atoms(self, config: DecompositionConfig) -> Tensor: ...

    def decompose_one(
        self, config: DecompositionConfig, layer: int, atoms: Tensor, *, heads: range | None = None
    ) -> LayerDecomposition: ...


def seed_made(config: DecompositionConfig, dec: LayerDecomposition, path: Path) -> LayerDecomposition:
    """Use a decomposition made by the seed's code (e.g. downloaded with ``sith
    download-model-data``) as it is: it stores no fingerprint or content hashes, so only
    what its name and place say is compared; a difference is an error, never a silent
    overwrite of the authors' file."""
    diff = config.mismatches(dec.config, SEED_CHECKED)
    if diff:
        raise SithError(
            f"{path} was made by the seed's code with another configuration ({'; '.join(diff)}); "
            "ask for the file's configuration or move the file away to recompute"
        )
    log.info("using %s as stored (%s; not recomputed)", path.name, dec.made_by_seed)
    return dec


def stored(ws: WorkspaceLike, config: DecompositionConfig, layer: int) -> LayerDecomposition | None:
    """The file of ``layer`` if it exists and was made with exactly ``config``; else None."""
    path = config.path(ws.data_dir, layer)
    dec = ws.store.read(path, LayerDecomposition.load)
    if dec is None:
        return None
    if dec.made_by_seed:
        return seed_made(config, dec, path)
    diff = config.mismatches(dec.config)
    if diff:
        log.warning("recomputing %s: made with another configuration (%s)", path.name, "; ".join(diff))
        return None
    return dec


def ensure(
    ws: WorkspaceLike, config: DecompositionConfig, *, force: bool
) -> list[tuple[Path, LayerDecomposition]]:
    """``[(path, decomposition)]`` for every layer of ``config`` (resolved): stored files
    reused (unless ``force``), the others computed and stored (written, or held in memory by
    the overlay store of :meth:`Workspace.read_only`)."""
    out = []
    atoms = None
    for layer in config.layers or ():
        path = config.path(ws.data_dir, layer)
        dec = None if force else stored(ws, config, layer)
        if dec is None:
            if atoms is None:
                atoms = ws.atoms(config)
            dec = decompose_resumable(ws, config, layer, atoms, path, force=force)
        out.append((path, dec))
    return out


def decompose_resumable(
    ws: WorkspaceLike, config: DecompositionConfig, layer: int, atoms: Tensor, path: Path, *,
    force: bool = False,
) -> LayerDecomposition:
    """One layer, ``HEADS_PER_PIECE`` heads at a time, stored at ``path`` when done; after each
    piece the finished heads are saved to the store's checkpoint (``{file}.partial.pt`` on
    disk, none in a dry run), so an interrupted layer resumes where it stopped."""
    partial = ws.store.checkpoint(path)
    parts = [] if force or partial is None else partial_parts(config, layer, partial)
    done = sum(p.num_heads for p in parts)
    n_heads = ws.weights.n_heads
    bar = tqdm(total=n_heads, initial=done, unit="head", desc=f"layer {layer} {config.method}",
               disable=not ws.progress, file=sys.stderr)
    for lo in range(done, n_heads, HEADS_PER_PIECE):
        heads = range(lo, min(n_heads, lo + HEADS_PER_PIECE))
        parts.append(ws.decompose_one(config, layer, atoms, heads=heads))
        bar.update(parts[-1].num_heads)
        if partial is not None and lo + HEADS_PER_PIECE < n_heads:
            save_pt(
                {"format": PARTIAL_FORMAT, "config": config.record(), "layer": layer,
                 "parts": [p.to_dict() for p in parts]},
                partial,
            )
    bar.close()
    dec = ws.store.write(path, LayerDecomposition.concat_heads(parts), LayerDecomposition.save)
    if partial is not None:
        partial.unlink(missing_ok=True)
    return dec


def partial_parts(config: DecompositionConfig, layer: int, partial: Path) -> list[LayerDecomposition]:
    """The finished pieces of an interrupted run of exactly this configuration and layer
    (``[]``, with a warning, for a checkpoint of another configuration or a damaged one)."""
    if not partial.exists():
        return []
    try:
        state = load_pt(partial, what="partial decomposition")
        if state.get("format") != PARTIAL_FORMAT or state.get("layer") != layer:
            raise SithError("another layer or not a checkpoint")
        if config.mismatches(DecompositionConfig.from_record(state["config"])):
            raise SithError("made with another configuration")
        parts = [LayerDecomposition.from_dict(d) for d in state["parts"]]
    except (SithError, KeyError, TypeError, ValueError, AttributeError) as exc:
        log.warning("ignoring %s (%s): starting the layer again", partial.name, exc)
        return []
    done = sum(p.num_heads for p in parts)
    log.info("resuming layer %d from %s (%d heads done)", layer, partial.name, done)
    return parts
