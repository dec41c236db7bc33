"""Checkpoints: put edited head weights back into a model, save it, read state dicts.

The edits of docs/method.md §6 change ``W_O^h`` of some heads in the uniform view, where
LayerScale is folded in (``W_O^h = W_O,raw^h · diag(ls)``). Writing back un-folds it,
``W_O,raw^h = W_O^h · diag(ls)⁻¹``, and stores ``Wo[:, h*dh:(h+1)*dh] = W_O,raw^hᵀ`` in
the model's own output projection, **for the changed heads only**: a head whose new
``W_O^h`` equals the current one bit for bit keeps its stored columns untouched (the
fold/unfold round trip through LayerScale would otherwise move them by an ulp). A zero
LayerScale entry ``ls_j`` can only carry a zero column ``j``; asking for anything else
there is refused (SithError naming the parameter). Nothing else in the model changes.

Saved checkpoints are byte-identical for identical weights and provenance (tensors in
sorted order; safetensors metadata in one key, so no map-ordering can differ) and load
back with :func:`sith.load.load_clip`: open_clip models as
``load_clip(info.model_name, pretrained=path)`` (a ``.pt``/``.bin``/``.pth`` state dict or
``.safetensors``), Hugging Face models as ``load_clip(path)`` (a ``save_pretrained``
directory). :func:`read_state_dict` reads ``.pt``/``.bin``/``.pth``
(``torch.load(weights_only=True)``, never a full unpickle) and ``.safetensors`` files.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from sith.errors import ConfigError, SithError
from sith.io import atomic_write, load_error_reason
from sith.load.clip import LoadedClip
from sith.load.registry import backend
from sith.load.storage import METADATA_KEY as STORAGE_METADATA_KEY
from sith.load.storage import head_block, originals_metadata, record_source, round_to_storage, storage_state
from sith.load.weights import ModelInfo

METADATA_KEY = STORAGE_METADATA_KEY  # safetensors metadata: one key, a JSON object with sorted keys
CHECKPOINT_SUFFIXES = (".pt", ".pth", ".bin", ".safetensors")


def _unfold_layer_scale(W_O: Tensor, ls: Tensor | None, ls_name: str, layer: int) -> Tensor:
    """``(H, dh, d)`` folded -> raw ``W_O`` by dividing column ``j`` by ``ls_j``."""
    if ls is None:
        return W_O
    ls = ls.double().to(W_O.device)
    zero = ls == 0
    if bool(zero.any()):
        needed = W_O[..., zero].abs().amax() > 0
        if bool(needed):
            idx = zero.nonzero().flatten()[:5].tolist()
            raise SithError(
                f"cannot write layer {layer}: LayerScale parameter {ls_name} is zero at channels "
                f"{idx}, so the edited W_O (non-zero there) cannot be represented; edit a model "
                "whose LayerScale has no zero entries or leave those channels unchanged"
            )
    safe = torch.where(zero, torch.ones_like(ls), ls)
    return torch.where(zero, torch.zeros_like(W_O), W_O / safe)


def changed_heads(old_W_O: Tensor, new_W_O: Tensor) -> list[int]:
    """Indices ``h`` where ``new_W_O[h]`` differs from ``old_W_O[h]`` in any bit (both ``(H, dh, d)``)."""
    new = new_W_O.detach().to(device=old_W_O.device, dtype=old_W_O.dtype)
    return [h for h in range(old_W_O.shape[0]) if not torch.equal(old_W_O[h], new[h])]


def with_head_outputs(clip: LoadedClip, new_W_O: dict[int, Tensor]) -> LoadedClip:
    """A deep copy of ``clip`` whose listed layers use new per-head output matrices.

    Args:
        clip: the model to edit (not modified).
        new_W_O: ``{layer: W_O}`` with ``W_O`` of shape ``(H, dh, d)``, LayerScale-folded
            exactly as in :class:`~sith.load.weights.LayerWeights` (docs/method.md §1, §6).

    Returns:
        A new :class:`LoadedClip` (same tokenizer and preprocessing) whose model's output
        projections of those layers hold the new weights, with its weight view re-extracted
        and a new fingerprint. ``info.model_name``/``pretrained`` are kept. Only the
        ``out_proj`` columns of heads whose ``W_O^h`` changed (:func:`changed_heads`) are
        written; the others keep their stored bits.

    Raises:
        SithError: a layer index out of range, a wrong shape, non-finite values, or a
            LayerScale zero where the new weights need a non-zero value.
    """
    be = backend(clip.info.source)
    n_layers, H, dh, d = (
        clip.weights.n_layers,
        clip.weights.n_heads,
        clip.weights.d_head,
        clip.weights.d_model,
    )
    for layer, W in new_W_O.items():
        if not isinstance(layer, int) or not 0 <= layer < n_layers:
            raise SithError(f"layer {layer!r} out of range; the model has layers 0..{n_layers - 1}")
        if tuple(W.shape) != (H, dh, d):
            raise SithError(
                f"new W_O for layer {layer} has shape {tuple(W.shape)}, expected (H, dh, d) = "
                f"{(H, dh, d)}; pass per-head output matrices as in VisionWeights"
            )
        if not bool(torch.isfinite(W).all()):
            raise SithError(f"new W_O for layer {layer} has NaN or inf values; check the edit")
    model = copy.deepcopy(clip.model)
    round_to_storage(model)  # a chosen --dtype: the edited model is what its file will hold
    with torch.no_grad():
        for layer, W in new_W_O.items():
            param, ls, ls_name = be.head_output_param(model, layer)
            heads = changed_heads(clip.weights.layers[layer].W_O, W)
            if not heads:
                continue
            raw = _unfold_layer_scale(
                W[heads].detach().double().cpu(), None if ls is None else ls.cpu(), ls_name, layer
            )
            for i, h in enumerate(heads):
                # (d, dh), rounded to the stored dtype, or the original bytes when restored
                param[:, h * dh : (h + 1) * dh] = head_block(model, param, layer, h, raw[i].T)
    weights = be.extract(
        model, ModelInfo(clip.info.model_name, clip.info.pretrained, clip.info.source)
    )
    return dataclasses.replace(clip, model=model, weights=weights, info=weights.info)


def save_model(clip: LoadedClip, path: str | Path) -> Path:
    """Save ``clip``'s model as a checkpoint that :func:`load_clip` reads back.

    open_clip: the full state dict, by suffix ``.safetensors`` (safetensors) or
    ``.pt``/``.pth``/``.bin`` (``torch.save``), written atomically (:func:`save_state_dict`).
    Hugging Face: a ``save_pretrained`` directory (with tokenizer and preprocessor
    config); an existing non-empty directory is refused. Identical inputs give
    byte-identical files.

    Returns:
        The path written.
    """
    return backend(clip.info.source).save(clip, Path(path))


def check_checkpoint_suffix(path: str | Path) -> None:
    """Refuse an output name whose suffix names no checkpoint format (before any work)."""
    if Path(path).suffix.lower() not in CHECKPOINT_SUFFIXES:
        raise SithError(
            f"cannot tell the checkpoint format of {path}; end the file name in .safetensors or .pt"
        )


def save_state_dict(model: nn.Module, path: str | Path, info: ModelInfo,
                    dtype: torch.dtype | None = None) -> Path:
    """Write ``model``'s state dict atomically, deterministically (same weights -> same bytes).

    Each tensor is stored in ``dtype``, by default in the dtype of the file the model was
    loaded from (:mod:`sith.load.storage`: fp16 in, fp16 out). ``.safetensors``: metadata
    ``{"sith": json(info + the original columns of edited heads, sorted keys)}``;
    ``.pt``/``.pth``/``.bin``: :func:`sith.io.save_pt` of a dict in sorted key order. Raises
    SithError for another suffix; a full disk is one SithError line.
    """
    path = Path(path)
    check_checkpoint_suffix(path)
    state = storage_state(model, dtype)
    if path.suffix.lower() == ".safetensors":
        meta = {METADATA_KEY: json.dumps({**info.as_dict(), **originals_metadata(model)}, sort_keys=True)}

        def writer(p: Path) -> None:
            save_file(state, str(p), metadata=meta)
    else:

        def writer(p: Path) -> None:
            torch_save(state, p)

    return atomic_write(path, lambda p: write_or_explain(writer, p))


def torch_save(state: dict[str, Tensor], path: Path) -> None:
    """``torch.save`` through an open handle (the archive's record names do not depend on
    the temporary file's name; :func:`sith.io.save_pt`)."""
    with open(path, "wb") as fh:
        torch.save(state, fh)


def write_or_explain(write: Callable[[Path], None], tmp: Path) -> None:
    """Run a checkpoint writer; safetensors (and torch) report a full disk or an I/O error as
    their own exception types, which become an ``OSError`` (one ``error:`` line from the CLI)."""
    try:
        write(tmp)
    except OSError:
        raise
    except Exception as exc:  # noqa: BLE001 - the writers' own error types
        text = str(exc)
        if "IoError" not in text and "write" not in text.lower():
            raise
        import errno

        full = any(s in text for s in ("code: 28", "StorageFull", "No space", "file write failed"))
        code = errno.ENOSPC if full else errno.EIO
        raise OSError(code, "No space left on device" if full else text.splitlines()[0][:120],
                      str(tmp)) from None


# --- reading checkpoint files ----------------------------------------------------------


def is_checkpoint_path(pretrained: str) -> bool:
    """Whether ``pretrained`` names a local checkpoint file rather than a tag."""
    p = Path(pretrained)
    return p.suffix.lower() in CHECKPOINT_SUFFIXES or p.is_file() or "/" in pretrained


def read_state_dict(path: str | Path) -> dict[str, Tensor]:
    """Read a state dict from ``.pt``/``.pth``/``.bin`` (weights-only) or ``.safetensors``.

    A ``{"state_dict": ...}`` wrapper and ``module.`` prefixes (DDP) are removed.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError("pretrained", f"checkpoint not found: {path}; check the {{name}} path")
    try:
        if path.suffix.lower() == ".safetensors":
            obj: Any = load_file(str(path), device="cpu")
        else:
            with warnings.catch_warnings():  # torch's warnings about a foreign file: said in one line
                warnings.simplefilter("ignore")
                obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any failure to parse is the user's file
        raise SithError(
            f"cannot read checkpoint {path}: not a weights-only torch or safetensors file "
            f"({load_error_reason(exc)}); "
            "save the state dict with torch.save(model.state_dict()) or sith.load.save_model"
        ) from None
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, Tensor) for v in obj.values()):
        raise SithError(
            f"checkpoint {path} does not hold a state dict of tensors; "
            "save it with torch.save(model.state_dict())"
        )
    if all(k.startswith("module.") for k in obj):
        obj = {k[len("module.") :]: v for k, v in obj.items()}
    return obj


def load_checkpoint_into(model: nn.Module, path: str | Path, model_name: str) -> None:
    """Load a checkpoint file into ``model`` strictly; a foreign file raises SithError."""
    sd = read_state_dict(path)
    own = model.state_dict()
    for key in ("logit_scale", "logit_bias"):
        if key in sd and key in own and sd[key].shape != own[key].shape:
            sd[key] = sd[key].reshape(own[key].shape)
    missing = sorted(set(own) - set(sd))
    unexpected = sorted(set(sd) - set(own))
    bad = [k for k in own if k in sd and own[k].shape != sd[k].shape]
    if missing or unexpected or bad:
        detail = "; ".join(
            f"{what}: {', '.join(keys[:3])}{' ...' if len(keys) > 3 else ''}"
            for what, keys in (("missing", missing), ("unexpected", unexpected), ("shape", bad))
            if keys
        )
        raise SithError(
            f"checkpoint {path} does not match architecture {model_name!r} ({detail}); "
            "pass the architecture the checkpoint was trained with as the model name"
        )
    model.load_state_dict(sd, strict=True)
    record_source(model, sd, path)
