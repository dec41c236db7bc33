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
* ``"device"`` (option): workers only read; JPEGs are decoded on the model's device
  (``torchvision.io.decode_jpeg``, nvJPEG on CUDA) and resized and cropped there
  (bicubic, antialiased, on uint8). The decode is libjpeg's on CPU (the same bits as PIL);
  the tensor resize differs from PIL's by at most one level on a fraction of pixels, so
  this is an option, recorded like ``draft``. Other formats and JPEGs the device cannot
  decode take the PIL path in the worker; a sample neither can read is skipped.
"""

from __future__ import annotations

import io
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from PIL import Image
from torch import Tensor
from torchvision.transforms import (
    CenterCrop,
    Compose,
    InterpolationMode,
    Normalize,
    PILToTensor,
    Resize,
    ToTensor,
)

from sith.errors import SithError

DECODE_MODES = ("pil", "draft", "device")
JPEG_MAGIC = b"\xff\xd8"
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
        if self.decode == "device" and data[:2] == JPEG_MAGIC:
            return torch.frombuffer(bytearray(data), dtype=torch.uint8)  # decoded in finish()
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

    def collate(self, tensors: list[Tensor]) -> Tensor | list[Tensor]:
        """One batch: stacked, or the list itself when some images are still encoded (``device``)."""
        if all(t.ndim == 3 for t in tensors):
            return torch.stack(tensors)
        return list(tensors)

    def finish(self, batch: Tensor | list[Tensor], device: torch.device) -> tuple[Tensor, list[int]]:
        """``(B', 3, S, S)`` float32 model input on ``device`` and the batch positions dropped.

        The split path does ``ToTensor``'s ``float / 255`` and ``Normalize``'s
        ``sub_(mean).div_(std)`` on the batch: the same float32 operations, so the same bits.
        Only ``device`` decoding drops images (those its decoder refuses).
        """
        dropped: list[int] = []
        if isinstance(batch, list):
            batch, dropped = self._decode_on(batch, device)
        x = batch.to(device, non_blocking=True)
        if not self.split:
            return x, dropped
        x = x.to(torch.float32).div(255)
        mean = torch.as_tensor(self.mean, dtype=torch.float32, device=device).view(-1, 1, 1)
        std = torch.as_tensor(self.std, dtype=torch.float32, device=device).view(-1, 1, 1)
        return x.sub_(mean).div_(std), dropped

    def _decode_on(self, items: list[Tensor], device: torch.device) -> tuple[Tensor, list[int]]:
        """Decode the encoded JPEGs among ``items`` on ``device``, resize, crop: uint8 ``(B', 3, S, S)``."""
        from torchvision.transforms.v2 import functional as tvf

        coded = [i for i, t in enumerate(items) if t.ndim == 1]
        with warnings.catch_warnings():  # torchvision 0.29 points to torchcodec; decode_jpeg still works
            warnings.simplefilter("ignore", DeprecationWarning)
            from torchvision.io import ImageReadMode, decode_jpeg

            try:
                decoded = dict(zip(coded, decode_jpeg([items[i] for i in coded], mode=ImageReadMode.RGB,
                                                      device=device)))
            except RuntimeError:  # one bad file fails the batch: decode one by one
                decoded = {}
                for i in coded:
                    try:
                        decoded[i] = decode_jpeg(items[i], mode=ImageReadMode.RGB, device=device)
                    except RuntimeError:
                        continue
        out, dropped = [], []
        for i, t in enumerate(items):
            if t.ndim == 3:
                out.append(t.to(device))
            elif i in decoded:
                img = tvf.resize(decoded[i], [self.size], interpolation=tvf.InterpolationMode.BICUBIC,
                                 antialias=True)
                out.append(tvf.center_crop(img, [self.size, self.size]))
            else:
                dropped.append(i)
        if not out:
            return torch.zeros(0, 3, self.size, self.size, dtype=torch.uint8, device=device), dropped
        return torch.stack(out), dropped


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
    transform = _transform_of(clip)
    head, mean, std = split_preprocess(clip.preprocess, transform)
    crops = [t.size for t in getattr(transform, "transforms", []) or [] if isinstance(t, CenterCrop)]
    size = int(getattr(clip, "image_size", 0) or (min(crops[0]) if crops else 0))
    if decode == "device" and not (mean is not None and _resize_then_crop(transform, size)):
        raise SithError("--decode device needs the model's preprocessing to be a bicubic resize of the "
                        "short side and a centre crop (open_clip's); use --decode pil")
    return Pixels(head=head, mean=mean, std=std, size=size, decode=decode)


def _resize_then_crop(transform: Any, size: int) -> bool:
    """Whether ``transform`` is bicubic short-side ``Resize(size)``, ``CenterCrop(size)``, a mode
    conversion, ``ToTensor``, ``Normalize`` (what :meth:`Pixels._decode_on` repeats on tensors)."""
    steps = list(getattr(transform, "transforms", []) or [])
    if len(steps) < 4 or not isinstance(steps[0], Resize) or not isinstance(steps[1], CenterCrop):
        return False
    resize = steps[0]
    side = resize.size if isinstance(resize.size, int) else (resize.size[0] if len(resize.size) == 1 else -1)
    return (side == size and resize.interpolation == InterpolationMode.BICUBIC and resize.max_size is None
            and tuple(steps[1].size) == (size, size) and len(steps) == 5)
