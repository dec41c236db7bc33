"""Training the model organism: a small open_clip CLIP on the synthetic world.

The loss is a *multi-positive* symmetric contrastive loss: for a batch of ``B``
images and their ``B`` captions, caption ``j`` is a positive of image ``i`` whenever
nothing it states contradicts image ``i`` (:func:`sith.organism.captions.positives`).
With logits ``Z = s · f_img f_txtᵀ`` ``(B, B)`` and row-normalised positive masks
``T`` (image→text) and ``T'`` (text→image)::

    loss = ½ [ −Σ_ij T_ij log softmax_j(Z)_ij  −  Σ_ij T'_ji log softmax_i(Z)_ij ] / B

A fraction ``hard_negative_frac`` of each batch are *hard negatives* ("twins"):
copies of other images in the batch that differ only in one of ``twin_factors``
(default: the shape) and the rendering noise, both captions naming that factor.

Everything is deterministic given ``seed``: batch ``t`` is drawn from
``numpy.random.default_rng([seed, t])``, so a resumed run sees the same data.
Checkpoints are written atomically (:func:`sith.io.save_pt`) every
``checkpoint_every`` steps; an interrupted run keeps its last good checkpoint.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import open_clip
import torch
import torch.nn.functional as F
from tqdm import tqdm

from sith.errors import SithError
from sith.io import load_pt, save_pt
from sith.organism.captions import DEFAULT_RATES, make_captions, positives
from sith.organism.formats import CHECKPOINT_FORMAT, check_checkpoint, load_init
from sith.organism.world import (
    FACTORS,
    GENERATOR_VERSION,
    N_SHAPES,
    WATER_BACKGROUNDS,
    render,
    sample,
    sample_labels,
)
from sith.organism.zeroshot import normalize_images

CHECKPOINT_NAME = "checkpoint.pt"


@dataclass(frozen=True)
class TrainConfig:
    """Architecture and optimisation settings of an organism run (validated on creation).

    The defaults are the shipped organism's run (docs/organism.md).
    """

    image_size: int = 64
    patch_size: int = 8
    vision_width: int = 128
    vision_layers: int = 6
    vision_heads: int = 8
    text_width: int = 128
    text_layers: int = 3
    text_heads: int = 8
    context_length: int = 32
    embed_dim: int = 128
    batch_size: int = 128
    steps: int = 2000
    lr: float = 1e-3
    warmup: int = 150
    weight_decay: float = 0.1
    hard_negative_frac: float = 0.375
    twin_factors: tuple[str, ...] = ("shape", "shape", "size", "bird")
    seed: int = 0
    checkpoint_every: int = 100
    threads: int = 2
    caption_rates: dict[str, float] = field(default_factory=dict)
    """Overrides of :data:`sith.organism.captions.DEFAULT_RATES` (how often a caption
    names each factor); empty = the defaults (organism-v1's run)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "twin_factors", tuple(self.twin_factors))
        _validate(self)

    def to_dict(self) -> dict[str, object]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> TrainConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise SithError(f"unknown TrainConfig fields {unknown}; valid: {sorted(names)}")
        defaults = cls()
        return cls(**{k: _typed(k, v, getattr(defaults, k)) for k, v in data.items()})  # type: ignore[arg-type]


def _typed(name: str, value: object, default: object) -> object:
    """``value`` checked against the type of the field's default (``--set KEY=VALUE``)."""
    if isinstance(default, bool):
        ok, want = isinstance(value, bool), "true or false"
    elif isinstance(default, int):
        ok, want = isinstance(value, int) and not isinstance(value, bool), "an integer"
    elif isinstance(default, float):
        ok, want = isinstance(value, int | float) and not isinstance(value, bool), "a number"
    elif isinstance(default, dict):
        ok = isinstance(value, dict) and all(
            isinstance(x, int | float) and not isinstance(x, bool) for x in value.values())
        want = 'a JSON object of numbers, e.g. {"size": 0.8}'
    elif isinstance(default, tuple):
        ok, want = isinstance(value, list | tuple) and all(isinstance(x, str) for x in value), "a list"
        value = tuple(value) if ok else value  # type: ignore[arg-type]
    else:
        ok, want = True, ""
    if not ok:
        raise SithError(f"TrainConfig.{name} must be {want}, got {value!r}; e.g. --set {name}={default!r}")
    return value


def _validate(c: TrainConfig) -> None:
    positive = ("image_size", "patch_size", "vision_width", "vision_layers", "vision_heads",
                "text_width", "text_layers", "text_heads", "context_length", "embed_dim",
                "steps", "checkpoint_every", "threads")
    for name in positive:
        if int(getattr(c, name)) < 1:
            raise SithError(f"TrainConfig.{name} must be >= 1, got {getattr(c, name)}")
    if c.vision_width % c.vision_heads:
        raise SithError(f"vision_width {c.vision_width} is not divisible by vision_heads "
                        f"{c.vision_heads}; pick a width that is a multiple of the heads")
    if c.text_width % c.text_heads:
        raise SithError(f"text_width {c.text_width} is not divisible by text_heads "
                        f"{c.text_heads}; pick a width that is a multiple of the heads")
    if c.image_size % c.patch_size:
        raise SithError(f"image_size {c.image_size} is not divisible by patch_size "
                        f"{c.patch_size}; pick a patch size that divides the image")
    if c.image_size < 16:
        raise SithError(f"image_size must be >= 16, got {c.image_size}; use e.g. 64")
    if c.batch_size < 2:
        raise SithError(f"batch_size must be >= 2 for a contrastive loss, got {c.batch_size}")
    if not 0.0 <= c.hard_negative_frac <= 0.5:
        raise SithError(f"hard_negative_frac must be in [0, 0.5], got {c.hard_negative_frac}")
    bad = [f for f in c.twin_factors if f not in TWIN_FACTORS]
    if bad or not c.twin_factors:
        raise SithError(f"twin_factors {list(c.twin_factors)} invalid; choose a non-empty "
                        f"subset of {list(TWIN_FACTORS)}")
    unknown = sorted(set(c.caption_rates) - set(DEFAULT_RATES))
    if unknown:
        raise SithError(f"caption_rates keys {unknown} unknown; choose from {sorted(DEFAULT_RATES)}")
    if any(not 0.0 <= float(v) <= 1.0 for v in c.caption_rates.values()):
        raise SithError(f"caption_rates must be probabilities in [0, 1], got {c.caption_rates}")
    if not c.lr > 0 or c.weight_decay < 0 or c.warmup < 0:
        raise SithError("lr must be > 0, weight_decay and warmup >= 0; fix the TrainConfig")


def model_config(config: TrainConfig) -> dict[str, object]:
    """The open_clip model-config dict (``embed_dim``/``vision_cfg``/``text_cfg``)."""
    return {
        "embed_dim": config.embed_dim,
        "vision_cfg": {
            "image_size": config.image_size, "patch_size": config.patch_size,
            "width": config.vision_width, "layers": config.vision_layers,
            "head_width": config.vision_width // config.vision_heads, "mlp_ratio": 4.0,
        },
        "text_cfg": {
            "context_length": config.context_length, "vocab_size": 49408,
            "width": config.text_width, "heads": config.text_heads, "layers": config.text_layers,
        },
    }


def build_model(cfg: dict[str, object]) -> open_clip.CLIP:
    """An open_clip ``CLIP`` from an open_clip model-config dict."""
    return open_clip.CLIP(
        embed_dim=int(cfg["embed_dim"]),  # type: ignore[arg-type]
        vision_cfg=dict(cfg["vision_cfg"]),  # type: ignore[arg-type]
        text_cfg=dict(cfg["text_cfg"]),  # type: ignore[arg-type]
    )


def tokenize(captions: list[str], context_length: int) -> torch.Tensor:
    """``(n, context_length)`` int64 tokens from open_clip's standard BPE tokenizer."""
    return open_clip.tokenize(captions, context_length=context_length)


def image_stats(seed: int, *, image_size: int, n: int = 1024) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of ``n`` training images (the normalisation constants)."""
    x = sample(n, seed=[seed, 2**31 - 1], image_size=image_size).images
    return x.mean(axis=(0, 2, 3)).round(4).tolist(), x.std(axis=(0, 2, 3)).round(4).tolist()


TWIN_FACTORS = ("shape", "color", "size", "position", "background", "count", "bird")
_TWIN_RATE = {"shape": "object", "color": "color", "size": "size", "position": "position",
              "background": "background", "count": "number", "bird": "object"}


def _twins(base: dict[str, np.ndarray], h: int, factors: tuple[str, ...],
           rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Copies of the first ``h`` images of ``base`` that differ in one of ``factors``
    (drawn uniformly per twin; repeat a factor to weight it)."""
    twin = {k: v[:h].copy() for k, v in base.items()}
    twin["bird"][:] = -1
    if factors == ("shape",):  # organism-v1's exact draw order
        twin["shape"] = np.where(base["shape"][:h] >= 0,
                                 (base["shape"][:h] + rng.integers(1, N_SHAPES, h)) % N_SHAPES,
                                 rng.integers(0, N_SHAPES, h))
        return twin
    twin["shape"] = np.where(twin["shape"] >= 0, twin["shape"], rng.integers(0, N_SHAPES, h))
    which = rng.integers(0, len(factors), h)
    is_bird = base["bird"][:h] >= 0
    for i, f in enumerate(factors):
        if f == "bird":  # a bird's twin is the other bird on the same background
            rows = np.flatnonzero((which == i) & is_bird)
            for key in twin:
                twin[key][rows] = base[key][:h][rows]
            twin["bird"][rows] = 1 - base["bird"][:h][rows]
            rows = np.flatnonzero((which == i) & ~is_bird)
            f = "shape"  # non-bird images fall back to a shape twin
        else:
            rows = np.flatnonzero(which == i)
        k = len(FACTORS[f])
        twin[f][rows] = (twin[f][rows] + rng.integers(1, k, rows.size)) % k
    twin["water"] = (twin["background"] < len(WATER_BACKGROUNDS)).astype(np.int64)
    return twin


def make_batch(config: TrainConfig, step: int) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Batch ``step``: images ``(B, 3, S, S)``, ``B`` captions, positives ``(B, B)`` bool.

    The last ``h = round(hard_negative_frac · B)`` images are twins of the first ``h``
    (:func:`_twins`); the captions of both always state the twin factors.
    """
    rng = np.random.default_rng([config.seed, step])
    b = config.batch_size
    h = int(round(config.hard_negative_frac * b))
    base = sample_labels(b - h, rng)
    twin = _twins(base, h, config.twin_factors, rng)
    labels = {k: np.concatenate([base[k], twin[k]]) for k in base}
    images = render(labels, rng, image_size=config.image_size)
    paired = {k: np.concatenate([base[k][:h], twin[k]]) for k in base}
    rest = {k: base[k][h:] for k in base}
    rates = {**config.caption_rates, **{_TWIN_RATE[f]: 1.0 for f in config.twin_factors}}
    cap_p, men_p = make_captions(paired, rng, rates=rates)
    cap_r, men_r = make_captions(rest, rng, rates=config.caption_rates)
    # reorder captions to match images: [paired originals, rest, twins]
    captions = cap_p[:h] + cap_r + cap_p[h:]
    mentions = {k: np.concatenate([men_p[k][:h], men_r[k], men_p[k][h:]]) for k in men_p}
    return images, captions, positives(labels, mentions)


def multi_positive_loss(
    image_features: torch.Tensor, text_features: torch.Tensor, logit_scale: torch.Tensor,
    pos: torch.Tensor,
) -> torch.Tensor:
    """The symmetric multi-positive contrastive loss (module doc); features ``(B, e)`` unit."""
    logits = logit_scale.exp().clamp(max=100) * image_features @ text_features.T
    t_i = pos / pos.sum(1, keepdim=True)
    t_t = pos.T / pos.T.sum(1, keepdim=True)
    li = -(t_i * F.log_softmax(logits, dim=1)).sum(1).mean()
    lt = -(t_t * F.log_softmax(logits.T, dim=1)).sum(1).mean()
    return 0.5 * (li + lt)


def _optimizer(model: torch.nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        small = p.ndim < 2 or "embedding" in name or "logit_scale" in name or "ln" in name
        (no_decay if small else decay).append(p)
    groups = [{"params": decay, "weight_decay": config.weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=config.lr, betas=(0.9, 0.98), eps=1e-6)


def _lr(config: TrainConfig, step: int) -> float:
    if step < config.warmup:
        return float(config.lr * (step + 1) / config.warmup)
    frac = (step - config.warmup) / max(1, config.steps - config.warmup)
    return float(config.lr * 0.5 * (1 + np.cos(np.pi * min(1.0, frac))))


def _load_resume(path: Path, config: TrainConfig) -> dict | None:
    if not path.is_file():
        return None
    state = check_checkpoint(load_pt(path, what="organism checkpoint"), path)
    if state.get("train_config") != config.to_dict():
        raise SithError(f"checkpoint {path} was made with another TrainConfig; "
                        "use a fresh out_dir or resume=False")
    return state


def train(config: TrainConfig, *, out_dir: str | Path, resume: bool = True,
          progress: bool = True, init_from: str | Path | None = None) -> Path:
    """Train the organism; returns the path of the final checkpoint.

    Writes ``out_dir/checkpoint.pt`` (a dict: ``format`` (``sith-organism-checkpoint/1``),
    ``model``, ``optimizer``, ``step``,
    ``train_config``, ``model_config``, ``image_mean``, ``image_std``, ``elapsed_s``,
    ``generator_version``, ``init_from``) every ``checkpoint_every`` steps and at the end,
    and appends one JSON line per 25 steps to ``out_dir/log.jsonl``.

    ``init_from`` (:func:`sith.organism.formats.load_init`) starts from trained weights instead of a random
    initialisation (continued training with another caption mix or schedule); the
    normalisation constants come with them. Steps, warm-up and schedule are those of
    ``config``; the optimizer state starts fresh.
    """
    init = load_init(init_from) if init_from is not None else None  # bad input before any write
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ckpt = out / CHECKPOINT_NAME
    torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    mcfg = model_config(config)
    model = build_model(mcfg)
    opt = _optimizer(model, config)
    state = _load_resume(ckpt, config) if resume else None
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        start, elapsed = int(state["step"]), float(state["elapsed_s"])
        mean, std = state["image_mean"], state["image_std"]
        init_source = state.get("init_from", "")
    elif init is not None:
        try:
            model.load_state_dict(init["model"])
        except RuntimeError as exc:
            raise SithError(f"{init_from} does not match the TrainConfig's architecture "
                            f"({str(exc).splitlines()[0][:100]})") from None
        start, elapsed = 0, 0.0
        mean, std, init_source = init["image_mean"], init["image_std"], init["source"]
    else:
        start, elapsed, init_source = 0, 0.0, ""
        mean, std = image_stats(config.seed, image_size=config.image_size)

    def snapshot(step: int) -> None:
        save_pt({
            "format": CHECKPOINT_FORMAT, "model": model.state_dict(), "optimizer": opt.state_dict(),
            "step": step,
            "train_config": config.to_dict(), "model_config": mcfg, "image_mean": mean,
            "image_std": std, "elapsed_s": elapsed, "generator_version": GENERATOR_VERSION,
            "init_from": init_source,
        }, ckpt)

    model.train()
    t0 = time.time() - elapsed
    bar = tqdm(range(start, config.steps), initial=start, total=config.steps,
               disable=not progress, desc="organism")
    with open(out / "log.jsonl", "a" if state is not None else "w") as log:
        for step in bar:
            for g in opt.param_groups:
                g["lr"] = _lr(config, step)
            images, captions, pos = make_batch(config, step)
            x = normalize_images(torch.from_numpy(images), mean, std)
            f_img = F.normalize(model.encode_image(x), dim=-1)
            f_txt = F.normalize(model.encode_text(tokenize(captions, config.context_length)),
                                dim=-1)
            loss = multi_positive_loss(f_img, f_txt, model.logit_scale,
                                       torch.from_numpy(pos).float())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            elapsed = time.time() - t0
            bar.set_postfix(loss=f"{loss.item():.3f}")
            if (step + 1) % 25 == 0 or step == start:
                rec = {"step": step + 1, "loss": round(loss.item(), 4),
                       "elapsed_s": round(elapsed, 1)}
                log.write(json.dumps(rec) + "\n")
                log.flush()
            if (step + 1) % config.checkpoint_every == 0 or step + 1 == config.steps:
                snapshot(step + 1)
    if start >= config.steps and state is None:
        snapshot(config.steps)
    return ckpt
