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

``world="v2"`` batches come from :mod:`sith.organism.batches` (every factor twinned, twins
rendered exactly); ``mlp_free_last`` zeroes and freezes the last blocks' MLPs (the model stays
an ordinary open_clip CLIP); a routed run (``routing_weight``/``routing_penalty`` > 0, from
``routing_start``) adds :func:`sith.organism.routing.routing_loss` on the direct contributions
and records its head assignment in the checkpoint. A routed run may branch from its control's
snapshot (``branch_from``): same weights, optimizer and step, then its own objective.

Everything is deterministic given ``seed``: batch ``t`` is drawn from
``numpy.random.default_rng([seed, t])``, so a resumed run sees the same data.
Checkpoints are written atomically (:func:`sith.io.save_pt`) every
``checkpoint_every`` steps; an interrupted run keeps its last good checkpoint.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import open_clip
import torch
import torch.nn.functional as F
from tqdm import tqdm

from sith.errors import ConfigError, SithError
from sith.io import load_pt, save_pt
from sith.organism.batches import TrainingBatch, v2_batch
from sith.organism.captions import make_captions, positives
from sith.organism.formats import CHECKPOINT_FORMAT, check_checkpoint, load_init
from sith.organism.routing import Gates, class_prompts, direct_contributions, routing_loss
from sith.organism.trainconfig import ROUTING_FIELDS, TWIN_RATE, TrainConfig, model_config
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

__all__ = ["CHECKPOINT_NAME", "TrainConfig", "build_model", "image_stats", "make_batch",
           "make_training_batch", "model_config", "multi_positive_loss", "tokenize", "train"]

CHECKPOINT_NAME = "checkpoint.pt"


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


def image_stats(seed: int, *, image_size: int, n: int = 1024, world: str = "v1"
                ) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of ``n`` training images (the normalisation constants)."""
    x = sample(n, seed=[seed, 2**31 - 1], image_size=image_size, world=world).images
    return x.mean(axis=(0, 2, 3)).round(4).tolist(), x.std(axis=(0, 2, 3)).round(4).tolist()


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
        if f == "unsafe":
            twin["unsafe"][rows] = 1 - twin["unsafe"][rows]
            continue
        k = len(FACTORS[f])
        twin[f][rows] = (twin[f][rows] + rng.integers(1, k, rows.size)) % k
    twin["water"] = (twin["background"] < len(WATER_BACKGROUNDS)).astype(np.int64)
    return twin


def make_training_batch(config: TrainConfig, step: int) -> TrainingBatch:
    """Batch ``step`` of a run: :func:`make_batch`'s for ``v1``, with labels and pairs for ``v2``
    (:func:`sith.organism.batches.v2_batch`)."""
    if config.world != "v1":
        return v2_batch(config, step)
    return TrainingBatch(*make_batch(config, step))


def make_batch(config: TrainConfig, step: int) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Batch ``step``: images ``(B, 3, S, S)``, ``B`` captions, positives ``(B, B)`` bool.

    The last ``h = round(hard_negative_frac · B)`` images are twins of the first ``h``
    (:func:`_twins`); the captions of both always state the twin factors. A ``v2`` run's
    batches are :func:`sith.organism.batches.v2_batch`'s.
    """
    if config.world != "v1":
        b = v2_batch(config, step)
        return b.images, b.captions, b.pos
    rng = np.random.default_rng([config.seed, step])
    b = config.batch_size
    h = int(round(config.hard_negative_frac * b))
    base = sample_labels(b - h, rng)
    twin = _twins(base, h, config.twin_factors, rng)
    labels = {k: np.concatenate([base[k], twin[k]]) for k in base}
    images = render(labels, rng, image_size=config.image_size)
    paired = {k: np.concatenate([base[k][:h], twin[k]]) for k in base}
    rest = {k: base[k][h:] for k in base}
    rates = {**config.caption_rates, **{TWIN_RATE[f]: 1.0 for f in config.twin_factors}}
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


def _same_config(saved: object, config: TrainConfig, *, ignore: tuple[str, ...] = ()) -> bool:
    """Whether a checkpoint's ``train_config`` is ``config`` (fields it lacks take their
    defaults, so checkpoints from before a field was added still resume)."""
    if not isinstance(saved, dict):
        return False
    try:
        theirs = TrainConfig.from_dict(saved).to_dict()
    except SithError:
        return False
    ours = config.to_dict()
    return all(theirs[k] == ours[k] for k in ours if k not in ignore)


def _load_resume(path: Path, config: TrainConfig) -> dict | None:
    if not path.is_file():
        return None
    state = check_checkpoint(load_pt(path, what="organism checkpoint"), path)
    if not _same_config(state.get("train_config"), config):
        raise SithError(f"checkpoint {path} was made with another TrainConfig; "
                        "use a fresh out_dir or resume=False")
    return state


def _load_branch(path: Path, config: TrainConfig) -> dict:
    """A control's snapshot for a routed run: same config but the routing fields, taken no
    later than the routing start."""
    state = check_checkpoint(load_pt(path, what="organism checkpoint"), path)
    if not _same_config(state.get("train_config"), config, ignore=ROUTING_FIELDS):
        raise ConfigError("branch_from", f"{{name}} {path} was trained with another recipe (beyond the "
                          "routing fields); branch from the control run of the same seed")
    if int(state["step"]) > config.routing_start_step:
        raise ConfigError("branch_from", f"{{name}} {path} is at step {state['step']}, after the routing "
                          f"start {config.routing_start_step}; use the control's snapshot checkpoint")
    return state


def mlp_free(model: torch.nn.Module, last: int) -> None:
    """Zero and freeze the MLPs of the last ``last`` vision blocks (their output is then 0)."""
    blocks = list(model.visual.transformer.resblocks)
    for block in blocks[len(blocks) - last:] if last else []:
        for p in block.mlp.parameters():
            with torch.no_grad():
                p.zero_()
            p.requires_grad_(False)


def _routing_weight(config: TrainConfig, step: int) -> float:
    """0 before ``routing_start``, then a linear ramp to 1 over ``routing_ramp`` steps."""
    start = config.routing_start_step
    if not config.routed or step < start:
        return 0.0
    return min(1.0, (step - start + 1) / max(1, config.routing_ramp))


@torch.no_grad()
def _class_texts(model: torch.nn.Module, config: TrainConfig) -> dict[str, torch.Tensor]:
    return {f: F.normalize(model.encode_text(tokenize(class_prompts(f), config.context_length)), dim=-1)
            for f in config.assignment()}


def _step_loss(model: torch.nn.Module, config: TrainConfig, batch: TrainingBatch, x: torch.Tensor,
               ramp: float, gates: Gates) -> tuple[torch.Tensor, dict[str, float]]:
    """The contrastive loss, plus ``ramp ·`` the routing loss when it is on."""
    direct = direct_contributions(model, x) if ramp > 0 else None
    f_img = F.normalize(direct.feature if direct is not None else model.encode_image(x), dim=-1)
    f_txt = F.normalize(model.encode_text(tokenize(batch.captions, config.context_length)), dim=-1)
    loss = multi_positive_loss(f_img, f_txt, model.logit_scale, torch.from_numpy(batch.pos).float())
    record: dict[str, float] = {"contrastive": round(loss.item(), 4)}
    if direct is not None:
        assert batch.labels is not None and batch.pair is not None
        route, rec = routing_loss(direct, batch.labels, batch.pair, _class_texts(model, config),
                                  config.assignment(), scale=config.routing_scale,
                                  penalty=config.routing_penalty / max(config.routing_weight, 1e-12),
                                  gates=gates)
        loss = loss + ramp * config.routing_weight * route
        record.update(rec, routing=round(route.item(), 4), ramp=round(ramp, 3))
    return loss, record


def train(config: TrainConfig, *, out_dir: str | Path, resume: bool = True,
          progress: bool = True, init_from: str | Path | None = None,
          branch_from: str | Path | None = None, until: int | None = None) -> Path:
    """Train the organism; returns the path of the final checkpoint.

    Writes ``out_dir/checkpoint.pt`` (a dict: ``format`` (``sith-organism-checkpoint/1``),
    ``model``, ``optimizer``, ``step``,
    ``train_config``, ``model_config``, ``image_mean``, ``image_std``, ``elapsed_s``,
    ``generator_version``, ``init_from``, and for routed runs ``assignment``
    (factor -> [[layer, head], ...]) and ``routing_state``) every ``checkpoint_every`` steps
    and at the end (with ``snapshot_at`` also ``checkpoint-{snapshot_at}.pt``), and appends one
    JSON line per 25 steps to ``out_dir/log.jsonl``.

    ``init_from`` (:func:`sith.organism.formats.load_init`) starts from trained weights instead of a random
    initialisation (continued training with another caption mix or schedule); the
    normalisation constants come with them. Steps, warm-up and schedule are those of
    ``config``; the optimizer state starts fresh. ``branch_from`` continues a control run's
    snapshot (weights, optimizer, step) under ``config``'s routing (module doc). ``until``
    stops after that step (a checkpoint is written there; the schedule stays ``config``'s, so
    a later call resumes where it stopped).
    """
    init = load_init(init_from) if init_from is not None else None  # bad input before any write
    out = Path(out_dir)
    ckpt = out / CHECKPOINT_NAME
    torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    mcfg = model_config(config)
    model = build_model(mcfg)
    mlp_free(model, config.mlp_free_last)
    opt = _optimizer(model, config)
    state = _load_resume(ckpt, config) if resume else None
    if state is None and branch_from is not None:
        state = _load_branch(Path(branch_from), config)
    out.mkdir(parents=True, exist_ok=True)
    gates = Gates(config.routing_gate)
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        start, elapsed = int(state["step"]), float(state["elapsed_s"])
        mean, std = state["image_mean"], state["image_std"]
        init_source = state.get("init_from", "")
        gates.load(state.get("routing_state", {}))
    elif init is not None:
        try:
            model.load_state_dict(init["model"])
        except RuntimeError as exc:
            raise SithError(f"{init_from} does not match the TrainConfig's architecture "
                            f"({str(exc).splitlines()[0][:100]})") from None
        mlp_free(model, config.mlp_free_last)
        start, elapsed = 0, 0.0
        mean, std, init_source = init["image_mean"], init["image_std"], init["source"]
    else:
        start, elapsed, init_source = 0, 0.0, ""
        mean, std = image_stats(config.seed, image_size=config.image_size, world=config.world)
    routing = {"assignment": {f: [list(p) for p in v] for f, v in config.assignment().items()}} \
        if config.routed else {}

    def snapshot(step: int, path: Path = ckpt) -> None:
        save_pt({
            "format": CHECKPOINT_FORMAT, "model": model.state_dict(), "optimizer": opt.state_dict(),
            "step": step,
            "train_config": config.to_dict(), "model_config": mcfg, "image_mean": mean,
            "image_std": std, "elapsed_s": elapsed, "generator_version": GENERATOR_VERSION,
            "init_from": init_source, **routing,
            **({"routing_state": gates.state()} if config.routed else {}),
        }, path)

    model.train()
    t0 = time.time() - elapsed
    stop = config.steps if until is None else max(start, min(int(until), config.steps))
    bar = tqdm(range(start, stop), initial=start, total=config.steps,
               disable=not progress, desc="organism")
    fresh_log = state is None or branch_from is not None and not ckpt.is_file()
    with open(out / "log.jsonl", "w" if fresh_log else "a") as log:
        for step in bar:
            for g in opt.param_groups:
                g["lr"] = _lr(config, step)
            batch = make_training_batch(config, step)
            x = normalize_images(torch.from_numpy(batch.images), mean, std)
            loss, record = _step_loss(model, config, batch, x, _routing_weight(config, step), gates)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            elapsed = time.time() - t0
            bar.set_postfix(loss=f"{loss.item():.3f}")
            if (step + 1) % 25 == 0 or step == start:
                rec = {"step": step + 1, "loss": round(loss.item(), 4),
                       "elapsed_s": round(elapsed, 1)}
                if config.routed or config.world != "v1":
                    rec.update(record)
                log.write(json.dumps(rec) + "\n")
                log.flush()
            if config.snapshot_at and step + 1 == config.snapshot_at:
                snapshot(step + 1, out / f"checkpoint-{step + 1}.pt")
            if (step + 1) % config.checkpoint_every == 0 or step + 1 in (config.steps, stop):
                snapshot(step + 1)
    if start >= config.steps and not ckpt.is_file():
        snapshot(config.steps)
    return ckpt
