"""``sith ground``: stream images through the model and ground every analysed component.

For each analysed layer (default: the last 4) and every head and top-``rank`` component
of the fold-ln matrix ``W = C·diag(γ1)·W_V^h·W_O^h·C`` (docs/method.md §2, from
:func:`sith.factor.head_vo`), the activation of every image is the component's exact
contribution to the head's class-token output (:mod:`sith.ground.activations`). One
forward pass per batch feeds every layer, head and component at once. Kept per
component: the top-``k`` images of each sign with their patch maps and running
statistics (:class:`~sith.ground.topk.LayerTracker`), so memory is bounded by ``k``,
not by the number of images (unless ``keep_all`` stores every activation).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor
from tqdm.auto import tqdm

from sith.decompose import default_layers, default_rank
from sith.errors import ConfigError, SithError
from sith.factor import check_layer, head_vo
from sith.ground.activations import component_activations, token_terms
from sith.ground.capture import capturing
from sith.ground.sources import ImageSource, stream
from sith.ground.topk import LayerTracker
from sith.load.weights import ModelInfo

log = logging.getLogger(__name__)


@dataclass
class Grounding:
    """The result of :func:`ground` (saved by :func:`sith.ground.save.save_grounding`).

    Attributes:
        info: the model's provenance.
        source: description of the image source.
        layers: analysed layers; ``trackers[layer]`` holds their top-k and statistics.
        rank, k: components per head, images kept per component and sign.
        singular_values: layer -> ``(H, rank)``.
        patch_grid: ``(gh, gw)`` patch layout of the per-patch maps (``P = gh·gw``).
        names: global image number -> name, for every image some component keeps.
        display: global image number -> ``(s, s, 3)`` uint8, for the grid components' images.
        grid_components, grid_images: what the PNG grids show per head.
        labels: world labels of every image (``--world`` only: 9 ints per image).
        skipped, seconds: unreadable images skipped, wall time of the pass.
    """

    info: ModelInfo
    source: str
    layers: list[int]
    rank: int
    k: int
    trackers: dict[int, LayerTracker]
    singular_values: dict[int, Tensor]
    patch_grid: tuple[int, int]
    names: dict[int, str] = field(default_factory=dict)
    display: dict[int, Tensor] = field(default_factory=dict)
    grid_components: int = 4
    grid_images: int = 8
    labels: dict[str, np.ndarray] = field(default_factory=dict)
    skipped: int = 0
    seconds: float = 0.0

    @property
    def count(self) -> int:
        return self.trackers[self.layers[0]].count


def patch_grid(n_tokens: int) -> tuple[int, int]:
    """``(g, g)`` for ``n_tokens = 1 + g²`` (class token + square patch grid)."""
    g = math.isqrt(n_tokens - 1)
    if g * g != n_tokens - 1:
        raise SithError(
            f"the vision tower has {n_tokens} tokens, not a class token plus a square patch grid; "
            "grounding covers square ViTs only"
        )
    return g, g


def ground(
    clip: Any,
    source: ImageSource,
    *,
    layers: list[int] | None = None,
    rank: int | None = None,
    k: int = 16,
    batch_size: int = 64,
    keep_all: bool = False,
    grid_components: int = 4,
    grid_images: int = 8,
    progress: bool = True,
) -> Grounding:
    """Ground the components of ``layers`` of ``clip`` in the images of ``source``.

    Args:
        clip: a :class:`~sith.load.LoadedClip`.
        source: the images (:class:`~sith.ground.sources.ImageSource`).
        layers: layer indices (default: the last 4); rank: components per head (default 64
            capped at the head width); k: images kept per component and sign.
        keep_all: also keep every image's activations ``(n, H, rank)`` per layer (and the
            world labels), e.g. for AUC scoring; memory grows with the number of images.
        grid_components, grid_images: the PNG grids show the first ``grid_components``
            components of each head with their top ``grid_images`` images per sign; only
            those images' display copies are held.

    Raises:
        SithError: bad layers/rank/k, no source, no readable image, unreadable image
            without ``source.skip_bad``.
    """
    source.check()
    w = clip.weights
    layers = default_layers(w.n_layers) if layers is None else [check_layer(w, x) for x in layers]
    layers = sorted(set(layers))
    rank = default_rank(w, rank)
    if k < 1:
        raise ConfigError("k", f"{{name}} must be >= 1, got {k}", value=k)
    if grid_components < 0 or grid_images < 1:
        raise ConfigError("grid_components", "{name} must be >= 0 and {name:grid_images} >= 1")
    grid_images = min(grid_images, k)
    svds = {layer: head_vo(w, layer, fold_ln=True).svd for layer in layers}
    result = Grounding(
        clip.info, source.describe(), layers, rank, k, {},
        {layer: svds[layer].S[:, :rank].clone() for layer in layers}, (0, 0),
        grid_components=min(grid_components, rank), grid_images=grid_images,
    )
    labels: list[dict[str, np.ndarray]] = []
    start = time.perf_counter()
    seen = 0
    bar = tqdm(unit="image", desc="ground", disable=not progress)
    try:
        with capturing(clip, layers) as store, torch.no_grad():
            for batch in stream(source, clip, batch_size):
                clip.encode_images(batch.pixels.to(clip.device))
                for layer in layers:
                    _update(result, layer, store[layer], svds[layer], seen, keep_all)
                _remember(result, batch.names, batch.display, seen)
                if batch.labels:
                    labels.append(batch.labels)
                seen += len(batch.names)
                bar.update(len(batch.names))
    finally:
        bar.close()
    if seen == 0:
        raise SithError(
            f"no readable images in {source.describe()} ({source.skipped} skipped); check the source"
        )
    if labels:
        result.labels = {key: np.concatenate([b[key] for b in labels]) for key in labels[0]}
    result.skipped = source.skipped
    result.seconds = time.perf_counter() - start
    if source.skipped:
        log.warning("skipped %d unreadable image(s) of %d", source.skipped, seen + source.skipped)
    return result


def _update(result: Grounding, layer: int, cap: Any, svd: Any, first: int, keep_all: bool) -> None:
    acts = component_activations(cap, svd, result.rank)
    patches = token_terms(cap, svd, result.rank)[..., 1:]  # drop the class token's own term
    if layer not in result.trackers:
        result.patch_grid = patch_grid(cap.xhat.shape[1])
        H = acts.shape[1]
        result.trackers[layer] = LayerTracker(H, result.rank, patches.shape[-1], result.k, keep_all=keep_all)
    result.trackers[layer].update(acts, patches, first)


def _remember(result: Grounding, names: list[str], display: Tensor, first: int) -> None:
    """Keep names of images some component keeps, display copies of the grid images only."""
    for i, name in enumerate(names):
        result.names[first + i] = name
        result.display[first + i] = display[i]
    used: set[int] = set()
    shown: set[int] = set()
    c, g = result.grid_components, result.grid_images
    for tr in result.trackers.values():
        used.update(tr.used_images().tolist())
        sub = tr.index[:, :, :c, :g]
        shown.update(sub[sub >= 0].unique().tolist())
    result.names = {i: n for i, n in result.names.items() if i in used}
    result.display = {i: d for i, d in result.display.items() if i in shown}
