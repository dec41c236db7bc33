"""open_clip models: load, check the architecture, extract the weight view (docs/method.md §1).

Parameter names (open_clip ``VisionTransformer``, block ``l``)::

    visual.transformer.resblocks.{l}.ln_1.{weight,bias}          γ1, β1
    visual.transformer.resblocks.{l}.attn.in_proj_{weight,bias}  rows [q; k; v]
    visual.transformer.resblocks.{l}.attn.out_proj.{weight,bias}
    visual.transformer.resblocks.{l}.ls_1.gamma                   LayerScale (optional)
    visual.ln_post.{weight,bias}, visual.proj                     γpost, βpost, P (d × e)

LayerScale multiplies the attention output channel-wise, so it is folded into the
output side: ``W_O^h ← W_O^h · diag(ls)``, ``b_O ← b_O ⊙ ls``. ``ln_pre`` (or its
absence, ``no_ln_pre``) acts before the first block and does not enter the per-head
matrices. Supported: every ViT tower built from standard ``ResidualAttentionBlock``
(``nn.MultiheadAttention``) with class-token pooling — ViT-B-32/B-16/L-14/H-14/bigG-14,
their ``-quickgelu`` variants, with or without LayerScale; the refusals (ResNet and timm
towers, custom attention, other pooling, no ``proj``) are :mod:`sith.load.openclip_checks`.
"""

from __future__ import annotations

from typing import Any

import open_clip
import torch
from torch import Tensor, nn

from sith.errors import ConfigError, SithError
from sith.load.clip import LoadedClip
from sith.load.openclip_checks import check_architecture, check_config, supported_models
from sith.load.registry import Backend, Loader, is_none_tag, register_backend, register_loader
from sith.load.verify import AttentionSite
from sith.load.weights import (
    LayerWeights,
    ModelInfo,
    VisionWeights,
    split_heads,
    weights_fingerprint,
)
from sith.load.writeback import is_checkpoint_path, load_checkpoint_into, save_state_dict


def _layer_scale(block: nn.Module) -> Tensor | None:
    gamma = getattr(getattr(block, "ls_1", None), "gamma", None)
    return None if gamma is None else gamma.detach().float().clone()


def _ln(ln: nn.Module, d: int) -> tuple[Tensor, Tensor]:
    w = getattr(ln, "weight", None)
    b = getattr(ln, "bias", None)
    w = torch.ones(d) if w is None else w.detach().float().cpu().clone()
    b = torch.zeros(d) if b is None else b.detach().float().cpu().clone()
    return w, b


def _layer_weights(block: nn.Module) -> LayerWeights:
    attn = block.attn
    d = attn.embed_dim
    v_bias = None if attn.in_proj_bias is None else attn.in_proj_bias[2 * d :].cpu()
    W_V, b_V, W_O, b_O = split_heads(
        attn.in_proj_weight[2 * d :].cpu(),
        v_bias,
        attn.out_proj.weight.cpu(),
        None if attn.out_proj.bias is None else attn.out_proj.bias.cpu(),
        attn.num_heads,
    )
    ls = _layer_scale(block)
    if ls is not None:
        ls = ls.cpu()
        W_O, b_O = W_O * ls, b_O * ls
    w1, b1 = _ln(block.ln_1, d)
    return LayerWeights(W_V, W_O, b_V, b_O, w1, b1, ls)


def extract(model: nn.Module, info: ModelInfo) -> VisionWeights:
    """The :class:`VisionWeights` of an open_clip model (LayerScale folded; see weights.py)."""
    check_architecture(model, info.model_name or "model")
    visual = model.visual
    layers = tuple(_layer_weights(b) for b in visual.transformer.resblocks)
    d = layers[0].W_V.shape[1]
    ln_w, ln_b = _ln(visual.ln_post, d)
    proj = visual.proj.detach().float().cpu().clone()
    fp = weights_fingerprint(visual.state_dict())
    full = ModelInfo(info.model_name, info.pretrained, "open_clip", fp)
    eps = float(getattr(visual.ln_post, "eps", 1e-5))
    return VisionWeights(layers, ln_w, ln_b, proj, full, ln_post_eps=eps)


# --- loading --------------------------------------------------------------------------------


def _size(model: nn.Module) -> int:
    size = model.visual.image_size
    h, w = (size, size) if isinstance(size, int) else tuple(size)
    if h != w:
        raise SithError(f"non-square image size {h}x{w} is not supported; use a square model")
    return int(h)


def wrap_open_clip(
    model: nn.Module,
    *,
    model_name: str,
    pretrained: str = "",
    tokenizer: Any = None,
    image_mean: tuple[float, float, float] | None = None,
    image_std: tuple[float, float, float] | None = None,
    transform: Any = None,
    device: str | torch.device = "cpu",
) -> LoadedClip:
    """Wrap an in-memory open_clip model (e.g. one just trained) as a :class:`LoadedClip`.

    The model is moved to ``device`` in fp32 eval mode. Tokenizer defaults to open_clip's
    ``SimpleTokenizer`` with the model's context length; mean/std default to the model's
    preprocess config (OpenAI's constants unless set).
    """
    dev = torch.device(device)
    model = model.float().eval().to(dev)
    pre = open_clip.get_model_preprocess_cfg(model)
    mean = tuple(float(m) for m in (image_mean or pre.get("mean", open_clip.OPENAI_DATASET_MEAN)))
    std = tuple(float(s) for s in (image_std or pre.get("std", open_clip.OPENAI_DATASET_STD)))
    if tokenizer is None:
        tokenizer = open_clip.SimpleTokenizer(context_length=getattr(model, "context_length", 77))
    weights = extract(model, ModelInfo(model_name, pretrained, "open_clip"))
    return LoadedClip(
        model=model,
        weights=weights,
        info=weights.info,
        image_size=_size(model),
        image_mean=mean,  # type: ignore[arg-type]
        image_std=std,  # type: ignore[arg-type]
        device=dev,
        tokenizer=tokenizer,
        transform=transform,
    )


#: Seed of the random initialisation (``--pretrained none``): a reproducible random model,
#: so its image mean, dictionary and decompositions match across commands.
RANDOM_INIT_SEED = 0


def _tokenizer(model_name: str) -> Any:
    """open_clip's tokenizer for ``model_name``; SithError (one line) when it cannot be made
    (e.g. a Hugging Face tokenizer without network or cache)."""
    try:
        return open_clip.get_tokenizer(model_name)
    except Exception as exc:  # noqa: BLE001 - hub downloads fail in many ways
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        raise SithError(
            f"could not create the tokenizer of {model_name} ({first}); check the network "
            "or the Hugging Face cache"
        ) from None


def load_open_clip(model_name: str, pretrained: str | None, device: torch.device) -> LoadedClip:
    """An open_clip architecture with a pretrained tag, ``""``/``"none"`` (random, seeded) or a
    checkpoint file."""
    tag = "" if is_none_tag(pretrained) else str(pretrained).strip()
    check_config(model_name)
    path = tag if tag and is_checkpoint_path(tag) else ""
    if tag and not path:
        tags = open_clip.list_pretrained_tags_by_model(model_name)
        if not open_clip.is_pretrained_cfg(model_name, tag):
            valid = (
                ", ".join(tags) if tags else "(none: pass {name}='none' or a checkpoint file)"
            )
            raise ConfigError(
                "pretrained", f"unknown {{name}} tag {tag!r} for {model_name}; valid tags: {valid}",
                value=tag, choices=tuple(tags),
            )
    tokenizer = _tokenizer(model_name)  # first: a tokenizer that must come from the hub fails fast
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(RANDOM_INIT_SEED)  # `--pretrained none` is the same random model every time
            model, _, preprocess = open_clip.create_model_and_transforms(
                model_name, pretrained=(tag if tag and not path else None)
            )
    except Exception as exc:  # noqa: BLE001 - downloads and configs fail in many ways
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        raise ConfigError(
            "pretrained",
            f"could not create {model_name} with pretrained {tag!r} ({first}); check the network "
            "or the Hugging Face cache, or pass a local checkpoint file as {name}",
        ) from None
    check_architecture(model, model_name)
    if path:
        load_checkpoint_into(model, path, model_name)
    return wrap_open_clip(
        model,
        model_name=model_name,
        pretrained=str(path or tag),
        tokenizer=tokenizer,
        transform=preprocess,
        device=device,
    )


# --- encoders, verification and write-back surface --------------------------------------------


def _pool_index(model: nn.Module, tokens: Tensor) -> Tensor | None:
    """Per-text index of the pooled token when the tower is causal and pools at a token
    (``argmax``/``eos``); None when the padding may matter (then the full context is used)."""
    if not isinstance(model, open_clip.CLIP) or getattr(model, "attn_mask", None) is None:
        return None
    pool = getattr(model, "text_pool_type", "argmax")
    if pool == "argmax":
        return tokens.argmax(dim=-1)
    eos = getattr(model, "text_eos_id", None)
    if pool == "eos" and eos is not None:
        return (tokens == eos).int().argmax(dim=-1)
    return None


def encode_text(clip: LoadedClip, texts: list[str]) -> Tensor:
    """``(n, e)`` unnormalised text embeddings (caller holds ``no_grad``).

    The context is cut to the batch's longest text: exact for a causal tower pooled at
    a token (a position attends only to earlier ones, so padding never reaches the pooled
    token) and 10-20× faster on CPU than padding every concept to 77 tokens
    (benchmarks/README.md, W3). Other towers run ``model.encode_text`` unchanged.
    """
    m = clip.model
    tokens = clip.tokenizer(texts).to(clip.device)
    idx = _pool_index(m, tokens)
    if idx is None:
        return m.encode_text(tokens, normalize=False)
    n = int(idx.max()) + 1
    cast = m.transformer.get_cast_dtype()
    x = m.token_embedding(tokens[:, :n]).to(cast) + m.positional_embedding[:n].to(cast)
    x = m.ln_final(m.transformer(x, attn_mask=m.attn_mask[:n, :n]))
    x = x[torch.arange(x.shape[0], device=x.device), idx]
    if m.text_projection is None:
        return x
    return m.text_projection(x) if isinstance(m.text_projection, nn.Linear) else x @ m.text_projection


def encode_images(clip: LoadedClip, pixels: Tensor) -> Tensor:
    """``(B, e)`` unnormalised image embeddings of preprocessed pixels."""
    return clip.model.encode_image(pixels, normalize=False)


def attention_sites(model: nn.Module) -> list[AttentionSite]:
    """Hook points and query/key weights of every block (for :func:`sith.load.verify.verify`)."""
    tr = model.visual.transformer
    sites = []
    for block in tr.resblocks:
        attn = block.attn
        d = attn.embed_dim
        w, b = attn.in_proj_weight.detach(), attn.in_proj_bias
        b = torch.zeros(3 * d, device=w.device) if b is None else b.detach()
        sites.append(
            AttentionSite(
                block=block,
                output=block.ls_1,
                ln_eps=float(block.ln_1.eps),
                W_q=w[:d],
                b_q=b[:d],
                W_k=w[d : 2 * d],
                b_k=b[d : 2 * d],
                scale=float((d // attn.num_heads) ** -0.5),
                batch_first=bool(getattr(tr, "batch_first", True)),
            )
        )
    return sites


def run_blocks(model: nn.Module, x: Tensor) -> Tensor:
    """Run the vision tower's residual blocks on ``x`` ``(B, T, d)`` (batch-first)."""
    return model.visual.transformer(x)


def head_output_param(model: nn.Module, layer: int) -> tuple[nn.Parameter, Tensor | None, str]:
    """Layer ``layer``'s ``out_proj.weight``, its LayerScale (or None) and the LayerScale's name."""
    block = model.visual.transformer.resblocks[layer]
    ls = getattr(getattr(block, "ls_1", None), "gamma", None)
    name = f"visual.transformer.resblocks.{layer}.ls_1.gamma"
    return block.attn.out_proj.weight, (None if ls is None else ls.detach()), name


def owns(model: nn.Module) -> bool:
    """Whether ``model`` is an open_clip-style CLIP (a ``visual`` tower and ``encode_text``)."""
    return hasattr(model, "visual") and hasattr(model, "encode_text")


def save(clip: LoadedClip, path: Any) -> Any:
    """The full state dict as ``.safetensors`` or ``.pt``/``.pth``/``.bin`` (byte-identical
    for identical weights; :func:`sith.load.writeback.save_state_dict`)."""
    return save_state_dict(clip.model, path, clip.info)


def _describe() -> str:
    supported = supported_models()
    return f"a supported open_clip ViT ({', '.join(supported[:10])}, ... {len(supported)} in all)"


BACKEND = register_backend(
    Backend(
        source="open_clip",
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
LOADER = register_loader(
    Loader(
        name="open_clip",
        order=20,
        claims=lambda name: name in open_clip.list_models(),
        load=load_open_clip,
        describe=_describe,
    )
)
