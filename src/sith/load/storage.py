"""How an edited checkpoint is stored: the input's dtype, and the original bytes of edited heads.

**Dtype.** A checkpoint file is loaded into a float32 model (values exact: float16 and
bfloat16 embed in float32). :func:`record_source` notes each tensor's dtype in the file on
the model (attribute ``sith_source_dtypes``); :func:`storage_state` casts every tensor back
to it when saving, so an fp16 file gives an fp16 edited file. The new head columns are
rounded to that dtype as they are written (:func:`head_block`), so the model in memory is
exactly what the saved file reloads to (same fingerprint, the one the edit log records).

**Original bytes.** The first time a head's output columns ``W_o[:, h·dh:(h+1)·dh]`` (shape
``(d, dh)``) are changed, their stored values are kept on the model (attribute
``sith_original_heads``, ``"LAYER:HEAD" -> (d, dh)`` tensor in the stored dtype) and
written into the ``.safetensors`` metadata (field ``original_heads`` of the JSON under
``sith``: base64 of a safetensors blob). When new columns come back to the originals (an undo) — within
:data:`RESTORE_RTOL` of the block's largest entry (float64 arithmetic leaves ~1e-8) plus one
unit of the stored dtype's precision (the edited columns were rounded to it) — the original
bytes are written instead, so ``--undo-log`` restores the input byte for byte. ``.pt`` files carry no
metadata: their undo is exact to float rounding only.
"""

from __future__ import annotations

import base64
import contextvars
import json
import logging
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load as load_blob
from safetensors.torch import save as save_blob
from torch import Tensor, nn

log = logging.getLogger(__name__)

SOURCE_DTYPES_ATTR = "sith_source_dtypes"
ORIGINALS_ATTR = "sith_original_heads"
ORIGINALS_KEY = "original_heads"  # a field of the one JSON metadata entry "sith"
METADATA_KEY = "sith"
#: New columns within this fraction of the original block's largest entry count as restored.
RESTORE_RTOL = 1e-5
#: Original columns larger than this (bytes, base64) are not stored in the metadata.
MAX_ORIGINALS_BYTES = 64 << 20


#: The dtype edited checkpoints are stored in, when chosen (``sith edit --dtype``); None keeps
#: each tensor's source dtype. Set for the duration of one command (:func:`stored_as`).
STORAGE_DTYPE: contextvars.ContextVar[torch.dtype | None] = contextvars.ContextVar("sith_storage_dtype",
                                                                                   default=None)
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def stored_as(dtype: str | None, run, *args):  # noqa: ANN001, ANN201 - any callable
    """``run(*args)`` with edited checkpoints stored in ``dtype`` (``"keep"``/None: the source's)."""
    token = STORAGE_DTYPE.set(DTYPES.get(dtype or "keep"))
    try:
        return run(*args)
    finally:
        STORAGE_DTYPE.reset(token)


def round_to_storage(model: nn.Module) -> None:
    """With a chosen storage dtype, round ``model``'s floating tensors to it in place (kept in
    their own dtype), so the model in memory is what its saved file reloads to."""
    dtype = STORAGE_DTYPE.get()
    if dtype is None:
        return
    with torch.no_grad():
        for t in [*model.parameters(), *model.buffers()]:
            if t.is_floating_point():
                t.copy_(t.to(dtype).to(t.dtype))
    record_dtype(model, dtype)


def record_dtype(model: nn.Module, dtype: torch.dtype) -> None:
    """Note that every floating tensor of ``model`` is stored as ``dtype`` (its saved file
    will be written in it)."""
    floating = [k for k, v in model.state_dict().items() if v.is_floating_point()]
    setattr(model, SOURCE_DTYPES_ATTR, dict.fromkeys(floating, dtype))


def record_source(model: nn.Module, state: dict[str, Tensor], path: str | Path) -> None:
    """Note the file's dtypes and any original head columns it carries on ``model``."""
    setattr(model, SOURCE_DTYPES_ATTR, {k: v.dtype for k, v in state.items() if v.is_floating_point()})
    setattr(model, ORIGINALS_ATTR, read_originals(path))


def read_originals(path: str | Path) -> dict[str, Tensor]:
    """The original head columns a sith-written ``.safetensors`` file carries (else ``{}``)."""
    if Path(path).suffix.lower() != ".safetensors":
        return {}
    try:
        with safe_open(str(path), framework="pt") as fh:
            record = (fh.metadata() or {}).get(METADATA_KEY)
        blob = json.loads(record).get(ORIGINALS_KEY) if record else None
        return dict(load_blob(base64.b64decode(blob))) if blob else {}
    except Exception:  # noqa: BLE001 - a foreign or damaged record: edits still work, undo is float-exact
        log.warning("%s: unreadable %s metadata ignored", path, ORIGINALS_KEY)
        return {}


def source_dtype(model: nn.Module, name: str, current: torch.dtype) -> torch.dtype:
    return getattr(model, SOURCE_DTYPES_ATTR, {}).get(name, current)


def param_name(model: nn.Module, param: Tensor) -> str:
    return next((n for n, p in model.named_parameters() if p is param), "")


def head_block(model: nn.Module, param: Tensor, layer: int, head: int, new: Tensor) -> Tensor:
    """The ``(d, dh)`` columns to store for ``head`` of ``param`` (``out_proj.weight``, ``(d, H·dh)``)
    given the wanted ``new`` values: rounded to the stored dtype, or the original bytes when
    ``new`` restores them; the first change of a head keeps its originals on the model."""
    dh = new.shape[1]
    dtype = source_dtype(model, param_name(model, param), param.dtype)
    originals: dict[str, Tensor] = dict(getattr(model, ORIGINALS_ATTR, {}))
    key = f"{layer}:{head}"
    current = param[:, head * dh : (head + 1) * dh].detach().cpu()
    block = new.detach().cpu().to(dtype).to(param.dtype)
    if key in originals:
        orig = originals[key]
        # float64 arithmetic leaves ~1e-8; the stored edited columns were rounded to ``dtype``
        tol = RESTORE_RTOL * float(orig.double().abs().max()) + torch.finfo(dtype).eps * float(
            current.double().abs().max())
        if (new.detach().cpu().double() - orig.double()).abs().max() <= tol:
            block = orig.to(param.dtype)
            del originals[key]
    else:
        originals[key] = current.to(dtype).clone()
    setattr(model, ORIGINALS_ATTR, originals)
    return block.to(param.device)


def storage_state(model: nn.Module, dtype: torch.dtype | None = None) -> dict[str, Tensor]:
    """``model``'s state dict in sorted order, each floating tensor in ``dtype`` (default: the
    dtype its source file had), on the CPU, contiguous."""
    out = {}
    for k, v in sorted(model.state_dict().items()):
        t = v.detach().cpu()
        if t.is_floating_point():
            t = t.to(dtype or source_dtype(model, k, t.dtype))
        out[k] = t.contiguous().clone()
    return out


def originals_metadata(model: nn.Module) -> dict[str, str]:
    """``{ORIGINALS_KEY: base64 blob}`` for the metadata's JSON (``{}`` when none)."""
    originals = getattr(model, ORIGINALS_ATTR, {})
    if not originals:
        return {}
    blob = base64.b64encode(save_blob({k: originals[k].contiguous() for k in sorted(originals)})).decode()
    if len(blob) > MAX_ORIGINALS_BYTES:
        log.warning("the original columns of %d edited heads are too large to store: --undo-log will "
                    "restore them to float rounding, not byte for byte", len(originals))
        return {}
    return {ORIGINALS_KEY: blob}
