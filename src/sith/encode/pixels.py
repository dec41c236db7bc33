"""Encoded image bytes → model input, split so the cheap float work runs once per batch.

A model's preprocessing (open_clip's and the organism's) is a torchvision ``Compose``
ending in ``ToTensor`` then ``Normalize``: resize and crop on the PIL image, then
``uint8 → float32 / 255`` and ``(x − mean) / std`` per channel. :class:`Pixels` cuts it
there: DataLoader workers decode, resize and crop and hand over **uint8** ``(3, S, S)``
tensors (a quarter of the bytes through shared memory and, on CUDA, over the bus); the
main process converts the whole batch on the model's device with the same elementwise
float32 operations, so the pixels are **bitwise** those of the full transform
(tests/encode/test_pixels.py). A preprocessing that does not end that way runs whole in
the workers, as before.

Decoding modes (``decode``):

* ``"pil"`` (default): PIL decodes the full image (the seed's pixels).
* ``"draft"`` (option): PIL's JPEG draft mode decodes at the smallest power-of-two
  reduction whose both sides stay ≥ ``S``; faster for large photos, different pixels
  (recorded in ``image_mean.json``; benchmarks/bench_throughput.py measures the difference).
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from PIL import Image
from torch import Tensor
from torchvision.transforms import CenterCrop, Compose, Normalize, PILToTensor, ToTensor

from sith.errors import SithError

DECODE_MODES = ("pil", "draft")
#: Loader stages timed in the workers (seconds summed over a batch's images).
WORKER_STAGES = ("read", "decode", "resize", "collate")


@dataclass
class Pixels:
    """Bytes → ``(3, S, S)`` tensors in the workers, batch → model input in the main process.

    Attributes:
        head: PIL image → tensor (uint8 when ``tail`` is set, else the full float transform).
        mean, std: the ``Normalize`` constants (``None``: ``head`` already normalises).
        size: the model's input side ``S`` (for draft decoding).
        decode: one of :data:`DECODE_MODES`.
    """

    head: Callable[[Image.Image], Tensor]
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    size: int = 0
    decode: str = "pil"
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def split(self) -> bool:
        """Whether workers hand over uint8 and :meth:`finish` normalises."""
        return self.mean is not None

    def image(self, data: bytes) -> Tensor:
        """One image's worker-side tensor (raises on corrupt data); adds to :attr:`timings`."""
        t0 = time.perf_counter()
        with Image.open(io.BytesIO(data)) as img:
            if self.decode == "draft" and self.size:
                img.draft("RGB", (self.size, self.size))
            rgb = img.convert("RGB")
        t1 = time.perf_counter()
        out = self.head(rgb)
        t2 = time.perf_counter()
        self.timings["decode"] = self.timings.get("decode", 0.0) + t1 - t0
        self.timings["resize"] = self.timings.get("resize", 0.0) + t2 - t1
        return out

    def finish(self, batch: Tensor, device: torch.device) -> Tensor:
        """``(B, 3, S, S)`` float32 model input on ``device`` from the workers' batch.

        The split path does ``ToTensor``'s ``float / 255`` and ``Normalize``'s
        ``sub_(mean).div_(std)`` on the batch: the same float32 operations, so the same bits.
        """
        x = batch.to(device, non_blocking=True)
        if not self.split:
            return x
        x = x.to(torch.float32).div(255)
        mean = torch.as_tensor(self.mean, dtype=torch.float32, device=device).view(-1, 1, 1)
        std = torch.as_tensor(self.std, dtype=torch.float32, device=device).view(-1, 1, 1)
        return x.sub_(mean).div_(std)


def _transform_of(clip: Any) -> Any:
    """The clip's torchvision transform (building a ``LoadedClip``'s lazy default first)."""
    transform = getattr(clip, "transform", None)
    if transform is None and hasattr(clip, "preprocess"):
        clip.preprocess(Image.new("RGB", (8, 8)))  # LoadedClip builds its transform on first use
        transform = getattr(clip, "transform", None)
    return transform


def split_preprocess(preprocess: Callable[[Image.Image], Tensor], transform: Any) -> tuple[
        Callable[[Image.Image], Tensor], tuple[float, ...] | None, tuple[float, ...] | None]:
    """``(head, mean, std)``: ``transform`` cut before its ``ToTensor, Normalize`` tail.

    ``head`` returns uint8 ``(3, S, S)``; ``(preprocess, None, None)`` when the transform
    does not end that way (then the workers run it whole).
    """
    steps = list(getattr(transform, "transforms", []) or [])
    if (len(steps) < 2 or not isinstance(steps[-2], ToTensor) or not isinstance(steps[-1], Normalize)
            or steps[-1].inplace):
        return preprocess, None, None
    norm = steps[-1]
    mean = tuple(float(v) for v in torch.as_tensor(norm.mean).flatten())
    std = tuple(float(v) for v in torch.as_tensor(norm.std).flatten())
    return Compose([*steps[:-2], PILToTensor()]), mean, std


def make_pixels(clip: Any, *, decode: str = "pil") -> Pixels:
    """The :class:`Pixels` of a model handle (``preprocess``, and ``transform`` when it has one)."""
    if decode not in DECODE_MODES:
        raise SithError(f"unknown decode mode {decode!r}; available: {', '.join(DECODE_MODES)}")
    head, mean, std = split_preprocess(clip.preprocess, _transform_of(clip))
    transform = _transform_of(clip)
    crops = [t.size for t in getattr(transform, "transforms", []) or [] if isinstance(t, CenterCrop)]
    size = int(getattr(clip, "image_size", 0) or (min(crops[0]) if crops else 0))
    return Pixels(head=head, mean=mean, std=std, size=size, decode=decode)
