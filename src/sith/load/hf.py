"""Hugging Face ``CLIPModel``: load, check, extract the weight view (docs/method.md §1).

``transformers`` is optional (``pip install sith[hf]``) and imported only here, lazily.
Parameter names (block ``l``)::

    vision_model.encoder.layers.{l}.layer_norm1.{weight,bias}        γ1, β1
    vision_model.encoder.layers.{l}.self_attn.{q,k,v,out}_proj.{weight,bias}
    vision_model.post_layernorm.{weight,bias}                        γpost, βpost
    visual_projection.weight                                         Pᵀ (e × d, no bias)

``vision_model.pre_layrnorm`` acts before the first block (like open_clip's ``ln_pre``);
the image embedding is ``post_layernorm`` of the class token times ``P``, exactly the
direct path of docs/method.md §2. HF CLIP has no LayerScale. Only ``model_type == "clip"``
is accepted (SigLIP, ALIGN, ... are other architectures and are refused).

Tokenizer: the directory's own (``CLIPTokenizer``/``AutoTokenizer``); when the directory
has none (e.g. a bare ``model.save_pretrained``), open_clip's ``SimpleTokenizer`` is used
— the same byte-pair vocabulary as OpenAI CLIP — with a logged warning.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import open_clip
import torch
from torch import Tensor, nn

from sith.errors import ConfigError, SithError
from sith.load.clip import LoadedClip
from sith.load.registry import Backend, Loader, is_none_tag, register_backend, register_loader
from sith.load.storage import record_dtype, storage_state
from sith.load.verify import AttentionSite
from sith.load.weights import (
    LayerWeights,
    ModelInfo,
    VisionWeights,
    split_heads,
    weights_fingerprint,
)

log = logging.getLogger(__name__)

PREPROCESSOR_FILE = "preprocessor_config.json"
HUB_ID = re.compile(r"^(hf-hub:)?[A-Za-z0-9][\w.-]*/[\w.-]+$")


def require_transformers() -> Any:
    """The ``transformers`` module, or SithError telling how to install it."""
    try:
        import transformers
    except ImportError:
        raise SithError(
            "Hugging Face models need the optional dependency transformers; "
            "install it with: pip install 'sith[hf]'"
        ) from None
    return transformers


def _refuse(name: str, why: str) -> SithError:
    return SithError(
        f"cannot analyse {name!r}: {why}; SITH covers Hugging Face CLIPModel (model_type 'clip') "
        "and open_clip ViTs with standard attention"
    )


def check_architecture(model: nn.Module, name: str = "model") -> None:
    """Refuse a Hugging Face model that is not a standard ``CLIPModel``."""
    model_type = getattr(getattr(model, "config", None), "model_type", None)
    if model_type != "clip":
        raise _refuse(name, f"its model_type is {model_type!r}, not 'clip'")
    vm = getattr(model, "vision_model", None)
    proj = getattr(model, "visual_projection", None)
    if vm is None or not isinstance(proj, nn.Linear):
        raise _refuse(name, "it has no vision_model with a visual_projection")
    if proj.bias is not None:
        raise _refuse(name, "its visual_projection has a bias")
    for i, layer in enumerate(vm.encoder.layers):
        attn = getattr(layer, "self_attn", None)
        parts = [getattr(attn, p, None) for p in ("q_proj", "k_proj", "v_proj", "out_proj")]
        if not all(isinstance(p, nn.Linear) for p in parts) or not hasattr(layer, "layer_norm1"):
            raise _refuse(name, f"layer {i} attention is not standard q/k/v/out self-attention")


def _ln(ln: nn.LayerNorm) -> tuple[Tensor, Tensor]:
    return ln.weight.detach().float().cpu().clone(), ln.bias.detach().float().cpu().clone()


def _bias(lin: nn.Linear) -> Tensor | None:
    return None if lin.bias is None else lin.bias.cpu()


def extract(model: nn.Module, info: ModelInfo) -> VisionWeights:
    """The :class:`VisionWeights` of a Hugging Face ``CLIPModel`` (shapes in weights.py)."""
    check_architecture(model, info.model_name or "model")
    vm = model.vision_model
    layers = []
    for layer in vm.encoder.layers:
        a = layer.self_attn
        W_V, b_V, W_O, b_O = split_heads(
            a.v_proj.weight.cpu(),
            _bias(a.v_proj),
            a.out_proj.weight.cpu(),
            _bias(a.out_proj),
            a.num_heads,
        )
        w1, b1 = _ln(layer.layer_norm1)
        layers.append(LayerWeights(W_V, W_O, b_V, b_O, w1, b1, None))
    ln_w, ln_b = _ln(vm.post_layernorm)
    proj = model.visual_projection.weight.detach().float().cpu().T.contiguous()
    tower = {f"vision_model.{k}": v for k, v in vm.state_dict().items()}
    tower["visual_projection.weight"] = model.visual_projection.weight
    fp = weights_fingerprint(tower)
    return VisionWeights(
        tuple(layers),
        ln_w,
        ln_b,
        proj,
        ModelInfo(info.model_name, info.pretrained, "hf", fp),
        ln_post_eps=float(vm.post_layernorm.eps),
    )


def _hub_or_dir(name: str) -> tuple[str, bool]:
    if Path(name).is_dir():
        cfg = Path(name) / "config.json"
        if not cfg.is_file():
            raise SithError(
                f"{name} has no config.json; pass a directory saved with save_pretrained"
            )
        try:
            model_type = json.loads(cfg.read_text()).get("model_type")
        except (OSError, ValueError):
            raise SithError(f"cannot parse {cfg}; re-save the model with save_pretrained") from None
        if model_type != "clip":
            raise _refuse(name, f"its config.json says model_type {model_type!r}, not 'clip'")
        return name, True
    return (name[len("hf-hub:") :] if name.startswith("hf-hub:") else name), False


def _preprocessor(src: str, is_dir: bool) -> dict[str, Any]:
    try:
        if is_dir:
            path = Path(src) / PREPROCESSOR_FILE
            return json.loads(path.read_text()) if path.is_file() else {}
        from huggingface_hub import hf_hub_download

        return json.loads(Path(hf_hub_download(src, PREPROCESSOR_FILE)).read_text())
    except Exception:  # noqa: BLE001 - optional file: fall back to the config's defaults
        return {}


def _tokenizer(src: str, context_length: int) -> Any:
    """The model's own tokenizer, or the OpenAI CLIP BPE when it has none (or an empty one:
    recent transformers build a vocabulary-less tokenizer from a bare config, which maps every
    word to the same ids and would make every concept embedding identical)."""
    transformers = require_transformers()
    try:
        tok = transformers.AutoTokenizer.from_pretrained(src)
        if _distinguishes_words(tok):
            return tok
    except Exception:  # noqa: BLE001 - no tokenizer files: use the OpenAI CLIP BPE
        pass
    log.warning("%s has no usable tokenizer; using open_clip's SimpleTokenizer (OpenAI CLIP BPE)", src)
    return open_clip.SimpleTokenizer(context_length=context_length)


def _distinguishes_words(tok: Any) -> bool:
    """Whether ``tok`` gives two different words different token ids."""
    ids = tok(["red", "water"], padding=True)["input_ids"]
    return list(ids[0]) != list(ids[1])


def _hf_tag(name: str, pretrained: str | None) -> str:
    """Hugging Face models carry their weights: only an empty tag is accepted."""
    if is_none_tag(pretrained):
        return ""
    raise ConfigError(
        "pretrained",
        f"pretrained {pretrained!r} does not apply to the Hugging Face model {name!r}; "
        "its directory or hub id already names the weights, so leave {name} unset",
    )


def load_hf(name: str, pretrained: str | None, device: torch.device) -> LoadedClip:
    """A Hugging Face ``CLIPModel`` from a local directory or a hub id."""
    tag = _hf_tag(name, pretrained)
    transformers = require_transformers()
    src, is_dir = _hub_or_dir(name)
    try:
        model = transformers.CLIPModel.from_pretrained(src)
    except Exception as exc:  # noqa: BLE001 - network, cache and format errors
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        where = "directory" if is_dir else "hub id (needs network or the local HF cache)"
        raise SithError(
            f"could not load a CLIPModel from {where} {name!r} ({first}); check it"
        ) from None
    check_architecture(model, name)
    stored = stored_dtype(model.config)
    model = model.float().eval().to(device)
    if stored is not None:  # fp16 in, fp16 out (sith.load.storage)
        record_dtype(model, stored)
    vc = model.config.vision_config
    pre = _preprocessor(src, is_dir)
    mean = tuple(float(m) for m in pre.get("image_mean", open_clip.OPENAI_DATASET_MEAN))
    std = tuple(float(s) for s in pre.get("image_std", open_clip.OPENAI_DATASET_STD))
    weights = extract(model, ModelInfo(name, tag, "hf"))
    return LoadedClip(
        model=model,
        weights=weights,
        info=weights.info,
        image_size=int(vc.image_size),
        image_mean=mean,  # type: ignore[arg-type]
        image_std=std,  # type: ignore[arg-type]
        device=device,
        tokenizer=_tokenizer(src, int(model.config.text_config.max_position_embeddings)),
    )


def _features(out: Any) -> Tensor:
    """``get_*_features`` gives a tensor (transformers 4) or an output with ``pooler_output``."""
    return out if isinstance(out, Tensor) else out.pooler_output


def encode_text(clip: LoadedClip, texts: list[str]) -> Tensor:
    """``(n, e)`` unnormalised text embeddings (caller holds ``no_grad``)."""
    tok = clip.tokenizer
    if hasattr(tok, "model_input_names"):  # a transformers tokenizer
        ctx = int(clip.model.config.text_config.max_position_embeddings)
        enc = tok(texts, padding=True, truncation=True, max_length=ctx, return_tensors="pt")
        out = clip.model.get_text_features(
            input_ids=enc["input_ids"].to(clip.device),
            attention_mask=enc["attention_mask"].to(clip.device),
        )
    else:
        out = clip.model.get_text_features(input_ids=tok(texts).to(clip.device))
    return _features(out)


def encode_images(clip: LoadedClip, pixels: Tensor) -> Tensor:
    """``(B, e)`` unnormalised image embeddings of preprocessed pixels."""
    return _features(clip.model.get_image_features(pixel_values=pixels))


def attention_sites(model: nn.Module) -> list[AttentionSite]:
    """Hook points and query/key weights of every layer (for :func:`sith.load.verify.verify`)."""
    sites = []
    for layer in model.vision_model.encoder.layers:
        a = layer.self_attn
        d = a.q_proj.weight.shape[0]
        zero = torch.zeros(d, device=a.q_proj.weight.device)
        sites.append(
            AttentionSite(
                block=layer,
                output=a,
                ln_eps=float(layer.layer_norm1.eps),
                W_q=a.q_proj.weight.detach(),
                b_q=zero if a.q_proj.bias is None else a.q_proj.bias.detach(),
                W_k=a.k_proj.weight.detach(),
                b_k=zero if a.k_proj.bias is None else a.k_proj.bias.detach(),
                scale=float(getattr(a, "scale", (d // a.num_heads) ** -0.5)),
            )
        )
    return sites


def run_blocks(model: nn.Module, x: Tensor) -> Any:
    """Run the vision encoder layers on ``x`` ``(B, T, d)``."""
    return model.vision_model.encoder(inputs_embeds=x)


def head_output_param(model: nn.Module, layer: int) -> tuple[nn.Parameter, Tensor | None, str]:
    """Layer ``layer``'s ``out_proj.weight`` (HF CLIP has no LayerScale)."""
    return model.vision_model.encoder.layers[layer].self_attn.out_proj.weight, None, ""


def stored_dtype(config: Any) -> torch.dtype | None:
    """The floating dtype a ``save_pretrained`` config records (``dtype``/``torch_dtype``) when it
    is not float32; None otherwise."""
    value = getattr(config, "dtype", None) or getattr(config, "torch_dtype", None)
    if isinstance(value, str):
        value = getattr(torch, value, None)
    ok = isinstance(value, torch.dtype) and value.is_floating_point and value != torch.float32
    return value if ok else None


def save_dir(clip: LoadedClip, directory: Path) -> None:
    """Write model, tokenizer (if a HF one) and a CLIP preprocessor config into ``directory``;
    the weights in the stored dtype (the source's, or ``sith edit --dtype``'s), recorded in
    ``config.json`` so the folder reloads and saves in it again."""
    state = storage_state(clip.model)
    clip.model.save_pretrained(str(directory), state_dict=state)
    dtypes = {t.dtype for t in state.values() if t.is_floating_point()}
    if len(dtypes) == 1:
        cfg_path = directory / "config.json"
        cfg = json.loads(cfg_path.read_text())
        name = str(dtypes.pop()).removeprefix("torch.")
        keys = [k for k in ("dtype", "torch_dtype") if k in cfg and cfg[k] != name]
        if keys:  # save_pretrained wrote the in-memory (float32) dtype
            cfg.update(dict.fromkeys(keys, name))
            cfg_path.write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n")
    if hasattr(clip.tokenizer, "save_pretrained"):
        clip.tokenizer.save_pretrained(str(directory))
    s = clip.image_size
    pre = {
        "image_processor_type": "CLIPImageProcessor",
        "do_resize": True,
        "size": {"shortest_edge": s},
        "resample": 3,
        "do_center_crop": True,
        "crop_size": {"height": s, "width": s},
        "do_rescale": True,
        "rescale_factor": 1 / 255,
        "do_normalize": True,
        "image_mean": list(clip.image_mean),
        "image_std": list(clip.image_std),
        "do_convert_rgb": True,
    }
    (directory / PREPROCESSOR_FILE).write_text(json.dumps(pre, indent=2) + "\n")


def owns(model: nn.Module) -> bool:
    """Whether ``model`` is a Hugging Face ``CLIPModel`` (``vision_model`` + ``visual_projection``)."""
    return hasattr(model, "vision_model") and hasattr(model, "visual_projection")


def save(clip: LoadedClip, path: str | Path) -> Path:
    """A ``save_pretrained`` directory (model, tokenizer, preprocessor config), written to a
    temporary sibling and renamed into place; an existing non-empty directory is refused."""
    path = Path(path)
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise SithError(f"{path} already exists and is not an empty directory; choose a new path")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        save_dir(clip, tmp)
        if path.exists():
            path.rmdir()
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return path


BACKEND = register_backend(
    Backend(
        source="hf",
        owns=owns,
        extract=extract,
        encode_text=encode_text,
        encode_images=encode_images,
        attention_sites=attention_sites,
        run_blocks=run_blocks,
        head_output_param=head_output_param,
        save=save,
    )
)
DIR_LOADER = register_loader(
    Loader(
        name="hf-dir",
        order=10,
        claims=lambda name: Path(name).is_dir(),
        load=load_hf,
        describe=lambda: "a Hugging Face CLIP directory",
    )
)
HUB_LOADER = register_loader(
    Loader(
        name="hf-hub",
        order=30,
        claims=lambda name: bool(HUB_ID.match(name)) and not Path(name).exists(),
        load=load_hf,
        describe=lambda: "an org/name hub id",
    )
)
