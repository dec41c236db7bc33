"""Seed-layout tensors with a JSON sidecar: the image mean and encoded dictionaries (docs/method.md §4).

The seed stores plain tensors: ``image_mean.pt`` is ``(e,)`` and
``dictionaries/NAME.pt`` is ``(N, e)``. We write exactly that tensor in the seed's place,
so the seed's scripts read our files, and put the provenance beside it, never in it:
``image_mean.json`` / ``NAME.json`` (same stem). The sidecar records the tensor's
content hash (``tensor_sha256``): a sidecar whose hash does not match the tensor next to
it (someone replaced the ``.pt``) is ignored and the tensor is treated as seed-made
(provenance unknown).

Reading accepts:

* our tensor + a matching sidecar: the model fingerprint is checked;
* a plain tensor without (matching) sidecar, e.g. made by the seed: only its shape can
  be checked (width ``e``, and for dictionaries the row count); the log says the
  provenance is unknown;
* the earlier sith format, a dict ``{"mean": (e,), ...}`` with its metadata inside.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from sith import __version__
from sith.errors import SithError
from sith.io import load_pt, save_json, save_pt
from sith.load.weights import ModelInfo

logger = logging.getLogger(__name__)

IMAGE_MEAN_FORMAT = "sith-image-mean/2"


def sidecar_path(path: str | Path) -> Path:
    """``X.pt`` → ``X.json`` (the metadata beside a seed-layout tensor)."""
    path = Path(path)
    return path.with_name(path.stem + ".json")


def tensor_digest(tensor: Tensor) -> str:
    """sha256 (16 hex digits) of a tensor's dtype, shape and bytes."""
    t = tensor.detach().cpu().contiguous()
    h = hashlib.sha256(f"{t.dtype}:{tuple(t.shape)}".encode())
    h.update(t.view(torch.uint8).numpy() if t.numel() else b"")
    return h.hexdigest()[:16]


def save_tensor(tensor: Tensor, path: str | Path, meta: dict[str, Any]) -> Path:
    """Write ``tensor`` as a plain ``.pt`` (the seed's format) and ``meta`` + hash beside it.

    The sidecar is written first and names the tensor's hash, so an interrupted write
    leaves either the old pair or a sidecar that no longer matches (read as seed-made),
    never a silently wrong pairing.
    """
    tensor = tensor.detach().cpu().contiguous()
    record = {**meta, "tensor_sha256": tensor_digest(tensor), "shape": list(tensor.shape),
              "sith_version": __version__}
    save_json(record, sidecar_path(path))
    return save_pt(tensor, path)


def read_sidecar(path: str | Path, tensor: Tensor) -> dict[str, Any] | None:
    """The sidecar of ``path`` if it exists and describes ``tensor``; else ``None`` (logged)."""
    side = sidecar_path(path)
    if not side.is_file():
        return None
    try:
        meta = json.loads(side.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        logger.warning("ignoring unreadable sidecar %s (%s)", side, exc)
        return None
    if not isinstance(meta, dict) or meta.get("tensor_sha256") != tensor_digest(tensor):
        logger.warning("ignoring %s: it describes another tensor than %s", side, Path(path).name)
        return None
    return meta


def same_model(meta: dict[str, Any], info: ModelInfo) -> bool:
    """Whether ``meta`` (with ``model_*`` keys) names ``info``'s model (fingerprint first)."""
    if info.fingerprint and meta.get("model_fingerprint"):
        return meta.get("model_fingerprint") == info.fingerprint
    return (meta.get("model_name"), meta.get("pretrained")) == (info.model_name, info.pretrained)


def model_meta(info: ModelInfo) -> dict[str, str]:
    """The ``model_*`` keys every sidecar carries."""
    return {
        "model_name": info.model_name,
        "pretrained": info.pretrained,
        "model_fingerprint": info.fingerprint,
    }


# --------------------------------------------------------------------------- image mean


def save_image_mean(mean: Tensor, info: ModelInfo, path: str | Path, meta: dict[str, Any]) -> Path:
    """Write ``image_mean.pt`` (a plain float32 ``(e,)`` tensor) and ``image_mean.json``.

    Args:
        mean: ``(e,)`` mean of unit image embeddings (docs/method.md §4).
        info: the model that computed it (name, tag, fingerprint go in the sidecar).
        path: the ``.pt`` path, usually :func:`sith.paths.image_mean_path`.
        meta: provenance to record (count, skipped, source, precision, seed, ...).

    Returns:
        ``path``.
    """
    mean = mean.detach().float().reshape(-1).cpu()
    if not bool(torch.isfinite(mean).all()):
        raise SithError("the image mean has non-finite entries; check the images and the model")
    record = {"format": IMAGE_MEAN_FORMAT, **model_meta(info), "dim": int(mean.shape[0]), **meta}
    return save_tensor(mean, path, record)


def _legacy_mean(path: Path, data: dict[str, Any], expect_model: ModelInfo | None) -> Tensor:
    mean = data.get("mean")
    if not isinstance(mean, Tensor):
        raise SithError(f"{path} is not an image mean; recompute it with `sith image-mean`")
    if expect_model is not None and not same_model(data, expect_model):
        raise SithError(
            f"{path} was computed with model {data.get('model_name')}/{data.get('pretrained')} "
            f"(fingerprint {data.get('model_fingerprint')}), not {expect_model.model_name}/"
            f"{expect_model.pretrained} ({expect_model.fingerprint}); recompute the image mean "
            "for this model with `sith image-mean`"
        )
    return mean.float().reshape(-1)


def load_image_mean(
    path: str | Path,
    expect_model: ModelInfo | None = None,
    *,
    expect_width: int | None = None,
) -> Tensor:
    """Read an image mean ``(e,)``: ours (sidecar checked), the seed's plain tensor, or a legacy dict.

    Args:
        path: ``image_mean.pt``.
        expect_model: refuse a mean whose sidecar names another model.
        expect_width: refuse a mean whose width is not ``e`` (the only check possible on
            a seed-made file).

    Raises:
        SithError: unreadable file, a tensor that is not ``(e,)``, another model, or the
            wrong width; the message names the fix.
    """
    path = Path(path)
    data = load_pt(path, what="image mean")
    fix = "recompute it with `sith image-mean`"
    if isinstance(data, dict):
        mean = _legacy_mean(path, data, expect_model)
    elif isinstance(data, Tensor):
        if data.ndim != 1 and not (data.ndim == 2 and data.shape[0] == 1):
            raise SithError(f"{path} holds a tensor of shape {tuple(data.shape)}, not (e,); {fix}")
        meta = read_sidecar(path, data)
        mean = data.float().reshape(-1)
        if meta is None:
            logger.info("image mean %s has no sith sidecar (seed-made?): provenance unknown", path)
        elif expect_model is not None and not same_model(meta, expect_model):
            raise SithError(
                f"{path} was computed with model {meta.get('model_name')}/{meta.get('pretrained')} "
                f"(fingerprint {meta.get('model_fingerprint')}), not {expect_model.model_name}/"
                f"{expect_model.pretrained} ({expect_model.fingerprint}); recompute the image mean "
                "for this model with `sith image-mean`"
            )
    else:
        raise SithError(f"{path} is not an image mean ({type(data).__name__}); {fix}")
    if expect_width is not None and mean.shape[0] != expect_width:
        raise SithError(
            f"{path} has width {mean.shape[0]} but this model's joint space has {expect_width}; "
            f"it was made for another model: {fix}"
        )
    return mean
