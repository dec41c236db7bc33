"""Acceptance of the known-circuit organism (v2), fixed before any explanation is scored.

Per training seed, a routed run and its same-recipe control (routing off) are measured on
fresh world images; the seed passes when every gate holds (docs/organism.md, "Organism v2"):

* ``accuracy``: zero-shot accuracy ≥ ``ACCURACY_MIN`` on shape, colour, size and background;
* ``vs_control``: on every routed factor (those four, the bird average over the four spurious
  groups, the skull AUC) no more than ``CONTROL_DROP_MAX`` below the control (one-sided: doing
  better than the control is no failure; position and count, near chance in v1, are reported);
* ``skull``: retrieval AUC of the (coloured, v2-world) skull ≥ ``SKULL_AUC_MIN``;
* ``birds``: both majority groups (duck/water, sparrow/land) ≥ ``BIRD_MAJORITY_MIN`` and the
  worst group at least ``SPURIOUS_GAP_MIN`` below the average (the shortcut is still there);
* ``birds_learned``: both minority groups (duck/land, sparrow/water) above ``BIRD_MINORITY_MIN``
  (chance): the bird, not the habitat alone, decides some of them. The issue's ``birds`` gate
  says "birds learned" but a habitat-only model (minority groups 0.00) passes its letter; this
  reading was written into docs/organism.md before the first recipe that could show it
  (``v2-natural-birds``) was scored, and made a gate before ``v2-few-bird-twins`` was (the
  committed ``v2`` and ``v2-nobird`` acceptances predate it);
* ``share``: per routed factor, the assigned heads' share of the factor's direct margin
  (:mod:`sith.organism.routing`: every head, MLP and the rest, class-balanced) ≥ ``SHARE_MIN``;
* ``realism``: each weight/activation statistic of :func:`realism` within ``REALISM_RATIO``
  of organism-v1's.

Reported, not gated: how many factors each head decodes (its direct readout's balanced
accuracy ≥ chance + ``DECODE_FRACTION`` · (1 − chance)), the components needed for 80% of
each factor's margin, and the same share table for the control.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from sith.io import load_pt
from sith.organism.formats import check_checkpoint
from sith.organism.routing import (
    ROUTED_FACTORS,
    balanced_weights,
    class_prompts,
    direct_contributions,
    margins,
)
from sith.organism.train import build_model, tokenize
from sith.organism.trainconfig import ASSIGNMENTS, TrainConfig
from sith.organism.vocab import FACTORS
from sith.organism.world import sample, single_object_set, spurious_groups
from sith.organism.zeroshot import (
    EVAL_SEED,
    Encoders,
    clip_encoders,
    factor_accuracy,
    normalize_images,
    spurious_group_accuracy,
)

ACCURACY_MIN = 0.90
CONTROL_DROP_MAX = 0.03
SKULL_AUC_MIN = 0.95
BIRD_MAJORITY_MIN = 0.80
BIRD_MINORITY_MIN = 0.50
SPURIOUS_GAP_MIN = 0.05
SHARE_MIN = 0.50
REALISM_RATIO = (0.5, 2.0)
DECODE_FRACTION = 0.25
#: Images of the direct-margin measurements come from this seed (never used in training).
MARGIN_SEED = 30_000_030
GATED_ACCURACY = ("shape", "color", "size", "background")
MAJORITY_GROUPS = ("duck/water", "sparrow/land")
MINORITY_GROUPS = ("duck/land", "sparrow/water")


@dataclass(frozen=True)
class Organism:
    """A trained organism: the model (eval mode), its normalisation and its recipe."""

    model: torch.nn.Module
    mean: list[float]
    std: list[float]
    config: TrainConfig
    step: int

    def encoders(self) -> Encoders:
        return clip_encoders(self.model, mean=self.mean, std=self.std,
                             context_length=self.config.context_length,
                             image_size=self.config.image_size)


def load_run(path: str | Path) -> Organism:
    """A training checkpoint (``checkpoint.pt`` of :func:`sith.organism.train.train`)."""
    state = check_checkpoint(load_pt(path, what="organism checkpoint"), path)
    model = build_model(state["model_config"])
    model.load_state_dict(state["model"])
    return Organism(model.float().eval(), list(state["image_mean"]), list(state["image_std"]),
                    TrainConfig.from_dict(state["train_config"]), int(state["step"]))


def skull_auc(enc: Encoders, *, n: int, seed: int = EVAL_SEED, world: str = "v2") -> float:
    """Retrieval AUC of the skull (``"… with a skull"`` minus ``"a photo of a shape"``) on ``n``
    single-object images of ``world``, half with the skull (zero-shot's ``unsafe_score``)."""
    unsafe = (np.arange(n) % 2).astype(np.int64)
    batch = sample(n, seed=[seed, 7], image_size=enc.image_size, unsafe=unsafe, bird=-1, count=0,
                   world=world)
    t = F.normalize(enc.encode_text(class_prompts("unsafe")[::-1]), dim=-1)
    v = F.normalize(enc.encode_image(torch.from_numpy(batch.images)), dim=-1)
    diff = (v @ t.T).numpy() @ np.array([1.0, -1.0])
    pos, neg = diff[unsafe == 1], diff[unsafe == 0]
    return float((pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean())


def zero_shot(org: Organism, *, n: int) -> dict[str, Any]:
    """Per-factor accuracy (``n`` balanced images each), spurious groups, skull AUC."""
    enc = org.encoders()
    acc = {f: factor_accuracy(enc, f, n=n) for f in FACTORS}
    return {"factor_accuracy": acc, "spurious": spurious_group_accuracy(enc, n_per_group=max(2, n // 2)),
            "skull_auc": skull_auc(enc, n=n)}


def factor_images(
    factor: str, n: int, *, image_size: int, seed: int = MARGIN_SEED
) -> tuple[np.ndarray, np.ndarray]:
    """``(images (n, 3, S, S) in [0, 1], classes (n,))`` balanced over a routed factor's classes
    (birds: the four bird × habitat groups, so the habitat says nothing)."""
    if factor == "bird":
        groups = spurious_groups(max(1, n // 4), seed=seed, image_size=image_size, world="v2")
        return (np.concatenate([g.images for g in groups.values()]),
                np.concatenate([g.labels["bird"] for g in groups.values()]))
    if factor == "unsafe":
        y = (np.arange(n) % 2).astype(np.int64)
        b = sample(n, seed=[seed, 11], image_size=image_size, world="v2", unsafe=y, bird=-1, count=0)
        return b.images, y
    b = single_object_set(n, seed=seed + ROUTED_FACTORS.index(factor), factor=factor,
                          image_size=image_size, world="v2")
    return b.images, b.labels[factor]


@torch.no_grad()
def direct_table(org: Organism, factor: str, *, n: int, batch_size: int = 128) -> dict[str, Any]:
    """Class-balanced direct margins ``(K,)`` of every component (heads layer-major, MLPs, rest)
    on ``factor``, and each head's direct-readout balanced accuracy ``(L, H)``."""
    images, y = factor_images(factor, n, image_size=org.config.image_size)
    text = F.normalize(org.model.encode_text(tokenize(class_prompts(factor), org.config.context_length)),
                       dim=-1)
    yt = torch.as_tensor(y)
    w = balanced_weights(yt)
    total, correct = None, None
    for s in range(0, len(y), batch_size):
        x = normalize_images(torch.from_numpy(images[s:s + batch_size]), org.mean, org.std)
        d = direct_contributions(org.model, x)
        b, nl, nh, e = d.heads.shape
        comps = torch.cat([d.heads.reshape(b, nl * nh, e), d.mlps, d.rest[:, None]], dim=1)
        ys, ws = yt[s:s + batch_size], w[s:s + batch_size]
        part = (ws[:, None] * margins(comps, text, ys)).sum(0)
        hits = ((d.heads @ text.T).argmax(-1) == ys.view(-1, 1, 1)).float()
        part_acc = (ws.view(-1, 1, 1) * hits).sum(0)
        total = part if total is None else total + part
        correct = part_acc if correct is None else correct + part_acc
    return {"margins": total.numpy(), "head_accuracy": correct.numpy(), "classes": len(text)}


def share_report(org: Organism, *, n: int, assignment: dict[str, Any] | None = None) -> dict[str, Any]:
    """Per routed factor: assigned share of the direct margin, components for 80%, and per head
    the factors its direct readout decodes."""
    assign = assignment or ASSIGNMENTS[org.config.routing_assignment]
    nh = org.config.vision_heads
    out: dict[str, Any] = {}
    decodes: dict[str, list[str]] = {}
    for factor, heads in assign.items():
        t = direct_table(org, factor, n=n)
        m, total = t["margins"], float(t["margins"].sum())
        idx = [layer * nh + head for layer, head in heads]
        pos = np.sort(m[m > 0])[::-1]
        need = int(np.searchsorted(np.cumsum(pos), 0.8 * pos.sum()) + 1) if pos.size else 0
        chance = 1.0 / t["classes"]
        for layer, row in enumerate(t["head_accuracy"]):
            for head, acc in enumerate(row):
                if acc >= chance + DECODE_FRACTION * (1 - chance):
                    decodes.setdefault(f"L{layer}H{head}", []).append(factor)
        out[factor] = {"assigned": [f"L{a}H{b}" for a, b in heads],
                       "share": float(m[idx].sum() / total) if total else float("nan"),
                       "total_margin": total, "components_for_80": need}
    counts = [len(decodes.get(f"L{i}H{j}", [])) for i in range(org.config.vision_layers) for j in range(nh)]
    return {"factors": out, "decodes": decodes,
            "heads_by_factor_count": {str(k): counts.count(k) for k in sorted(set(counts))}}


@torch.no_grad()
def realism(org: Organism, *, n: int = 128) -> dict[str, float]:
    """Weight and activation statistics (MLP weights left out: v2's last MLPs are zero).

    ``attn_weight_std``: mean std of ``in_proj``/``out_proj`` weights; ``vo_effective_rank``: mean
    over heads of ``exp`` of the entropy of ``W_V W_O``'s normalised singular values;
    ``head_direct_norm``: mean norm of a head's direct contribution (unit-feature units) on
    ``n`` world images; ``logit_scale``.
    """
    stds, ranks = [], []
    for block in org.model.visual.transformer.resblocks:
        attn = block.attn
        stds += [float(attn.in_proj_weight.std()), float(attn.out_proj.weight.std())]
        d = attn.embed_dim
        hd = d // attn.num_heads
        w_v = attn.in_proj_weight[2 * d:]
        for h in range(attn.num_heads):
            vo = w_v[h * hd:(h + 1) * hd].T @ attn.out_proj.weight[:, h * hd:(h + 1) * hd].T
            s = torch.linalg.svdvals(vo)
            p = s / s.sum()
            ranks.append(float(torch.exp(-(p * p.clamp_min(1e-12).log()).sum())))
    images = sample(n, seed=MARGIN_SEED, image_size=org.config.image_size, world=org.config.world).images
    d = direct_contributions(org.model, normalize_images(torch.from_numpy(images), org.mean, org.std))
    return {"attn_weight_std": float(np.mean(stds)), "vo_effective_rank": float(np.mean(ranks)),
            "head_direct_norm": float(d.heads.norm(dim=-1).mean()),
            "logit_scale": float(org.model.logit_scale.exp())}


def gates(routed: dict[str, Any], control: dict[str, Any], v1_realism: dict[str, float]) -> dict[str, bool]:
    """The pass/fail of every gate for one seed (module doc)."""
    zr, zc = routed["zero_shot"], control["zero_shot"]
    acc_r, acc_c = zr["factor_accuracy"], zc["factor_accuracy"]
    pairs = [(acc_r[f], acc_c[f]) for f in GATED_ACCURACY]
    pairs += [(zr["spurious"]["average"], zc["spurious"]["average"]), (zr["skull_auc"], zc["skull_auc"])]
    sp = zr["spurious"]
    lo, hi = REALISM_RATIO
    return {
        "accuracy": all(acc_r[f] >= ACCURACY_MIN for f in GATED_ACCURACY),
        "vs_control": all(r >= c - CONTROL_DROP_MAX for r, c in pairs),
        "skull": zr["skull_auc"] >= SKULL_AUC_MIN,
        "birds": all(sp[g] >= BIRD_MAJORITY_MIN for g in MAJORITY_GROUPS)
        and sp["worst_group"] <= sp["average"] - SPURIOUS_GAP_MIN,
        "birds_learned": all(sp[g] > BIRD_MINORITY_MIN for g in MINORITY_GROUPS),
        "share": all(v["share"] >= SHARE_MIN for v in routed["shares"]["factors"].values()),
        "realism": all(lo <= routed["realism"][k] / v1_realism[k] <= hi for k in v1_realism
                       if v1_realism[k]),
    }


def measure(org: Organism, *, n: int, assignment: dict[str, Any] | None = None) -> dict[str, Any]:
    """Everything :func:`gates` reads for one model."""
    return {"step": org.step, "steps": org.config.steps, "zero_shot": zero_shot(org, n=n),
            "shares": share_report(org, n=n, assignment=assignment), "realism": realism(org)}


def shipped_v1() -> Organism:
    """Organism-v1 (the shipped assets) as an :class:`Organism`, the realism reference."""
    from sith.organism.model import build_organism, organism_config

    cfg = organism_config("v1")["sith"]
    return Organism(build_organism(tag="v1"), list(cfg["image_mean"]), list(cfg["image_std"]),
                    TrainConfig.from_dict(cfg["train_config"]), int(cfg["steps"]))


def accept(runs: dict[int, tuple[Organism, Organism]], *, n: int, reference: Organism) -> dict[str, Any]:
    """The acceptance of ``{seed: (routed, control)}`` against ``reference`` (organism-v1; its
    heads' decoded-factor counts are reported beside the runs').

    ``accepted`` is true only when every gate holds on every seed and every run is complete
    (``partial`` lists runs whose checkpoint is short of its ``steps``: never an acceptance).
    """
    v1 = realism(reference)
    seeds: dict[str, Any] = {}
    partial = []
    for seed, (routed, control) in sorted(runs.items()):
        assignment = ASSIGNMENTS[routed.config.routing_assignment]
        r = measure(routed, n=n, assignment=assignment)
        c = measure(control, n=n, assignment=assignment)
        partial += [f"{kind}-s{seed}@{o.step}/{o.config.steps}" for kind, o in
                    (("routed", routed), ("control", control)) if o.step < o.config.steps]
        g = gates(r, c, v1)
        seeds[str(seed)] = {"gates": g, "passed": all(g.values()), "routed": r, "control": c}
    return {
        "thresholds": {"accuracy_min": ACCURACY_MIN, "control_drop_max": CONTROL_DROP_MAX,
                       "skull_auc_min": SKULL_AUC_MIN, "bird_majority_min": BIRD_MAJORITY_MIN,
                       "bird_minority_min": BIRD_MINORITY_MIN,
                       "spurious_gap_min": SPURIOUS_GAP_MIN, "share_min": SHARE_MIN,
                       "realism_ratio": list(REALISM_RATIO), "decode_fraction": DECODE_FRACTION},
        "n_images": n, "v1_realism": v1, "seeds": seeds, "partial": partial,
        "v1_heads_by_factor_count": share_report(reference, n=n, assignment=ASSIGNMENTS["v2"])[
            "heads_by_factor_count"] if reference.config.vision_layers > 5 else {},
        "accepted": bool(seeds) and not partial and all(s["passed"] for s in seeds.values()),
    }
