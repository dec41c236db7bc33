"""Sec. 6 on the organism: does fine-tuning reweight a stable singular basis? (issue 11 item 5)

Fine-tunes the shipped organism (v1) in three ways, then compares each tuned model with the
base head by head with ``sith.compare`` (docs/method.md §2 matrices, fold-ln):

* ``shifted/full``  — all parameters, on the *shifted* world (the duck/sparrow ↔ background
  correlation broken), the adaptation of interest;
* ``shifted/lora``  — only a rank-4 update of each vision block's attention ``out_proj``
  (a low-rank, attention-only adapter), same data;
* ``train/full``    — control: the same full fine-tuning on the *training* distribution
  (continued training: any change that is not adaptation to the shift).

For each, per changed head: how much of ``ΔW``'s energy lies inside the base head's singular
subspaces (``inside_both``: ``‖U_rᵀ ΔW V_r‖² / ‖ΔW‖²``) **against a null** — the same ``ΔW``
measured in another head's basis of the same layer (heads rolled by one); mean principal
angles of the read/write subspaces; the tuned model's zero-shot worst group on the spurious
task (did fine-tuning adapt?); and COMP explanations (seed recipe, organism pool) of the top
ΔW direction of the most-changed heads.

    python experiments/finetune_organism/run.py [--steps 150] [--seed 0]

Writes ``experiments/finetune_organism/results/{finetune.json, finetune.md}``.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.nn.utils import parametrize

from sith.compare.metrics import delta_svd, energy_shares
from sith.compare.run import compare_weights
from sith.decompose import solve
from sith.factor import HeadSVD, head_vo, joint_targets
from sith.load import load_clip
from sith.load.openclip import extract
from sith.organism.captions import positives
from sith.organism.inputs import organism_workspace
from sith.organism.train import multi_positive_loss, tokenize
from sith.organism.world import sample
from sith.organism.zeroshot import loaded_encoders, normalize_images, spurious_group_accuracy

OUT = Path(__file__).resolve().parent / "results"


class LowRank(torch.nn.Module):
    """``W + B·A`` with ``A (r, d_in)`` small random, ``B (d_out, r)`` zero: a rank-r adapter."""

    def __init__(self, d_out: int, d_in: int, r: int, g: torch.Generator) -> None:
        super().__init__()
        self.A = torch.nn.Parameter(torch.randn(r, d_in, generator=g) * d_in**-0.5)
        self.B = torch.nn.Parameter(torch.zeros(d_out, r))

    def forward(self, W: torch.Tensor) -> torch.Tensor:
        return W + self.B @ self.A


def finetune(clip, *, variant: str, mode: str, steps: int, seed: int, batch: int = 64, lr: float = 1e-4):
    model = copy.deepcopy(clip.model).train()
    g = torch.Generator().manual_seed(seed)
    if mode == "lora":
        for p in model.parameters():
            p.requires_grad_(False)
        for block in model.visual.transformer.resblocks:
            w = block.attn.out_proj.weight
            parametrize.register_parametrization(block.attn.out_proj, "weight", LowRank(*w.shape, 4, g))
        lr = 1e-3
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    ctx = model.context_length if hasattr(model, "context_length") else 32
    losses = []
    for step in range(steps):
        b = sample(batch, seed=[seed, 7, step], variant=variant)
        x = normalize_images(torch.from_numpy(b.images), clip.image_mean, clip.image_std)
        f_img = F.normalize(model.encode_image(x), dim=-1)
        f_txt = F.normalize(model.encode_text(tokenize(b.captions, ctx)), dim=-1)
        pos = torch.from_numpy(positives(b.labels, b.mentions)).float()
        loss = multi_positive_loss(f_img, f_txt, model.logit_scale, pos)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        losses.append(float(loss.detach()))
    if mode == "lora":
        for block in model.visual.transformer.resblocks:
            parametrize.remove_parametrizations(block.attn.out_proj, "weight", leave_parametrized=True)
    return model.eval(), losses


def rolled(svd: HeadSVD) -> HeadSVD:
    return HeadSVD(*(t.roll(1, dims=0) for t in svd))


def basis_shares(base_w, tuned_w) -> dict:
    """Per changed head: inside_both in its own basis vs another head's (null), all layers."""
    own, null, rel = [], [], []
    for layer in range(base_w.n_layers):
        sb = head_vo(base_w, layer, fold_ln=True).svd
        st = head_vo(tuned_w, layer, fold_ln=True).svd
        d = delta_svd(sb, st)
        r = base_w.d_head
        e_own, e_null = energy_shares(sb, d, r), energy_shares(rolled(sb), d, r)
        changed = e_own["energy"] > 0
        own += e_own["both"][changed].tolist()
        null += e_null["both"][changed].tolist()
        rel += (e_own["energy"][changed] / (sb.S.double() ** 2).sum(-1)[changed]).tolist()
    return {
        "heads_changed": len(own),
        "inside_both_own_basis": float(np.mean(own)) if own else 0.0,
        "inside_both_other_head_basis (null)": float(np.mean(null)) if null else 0.0,
        "own_beats_null_heads": float(np.mean(np.array(own) > np.array(null))) if own else 0.0,
        "mean_rel_energy": float(np.mean(rel)) if rel else 0.0,
    }


def explain_top_deltas(ws, base_w, tuned_w, n_heads: int = 4) -> list[dict]:
    """COMP (seed recipe) of the top ΔW write direction of the ``n_heads`` most changed heads."""
    rows = []
    for layer in range(base_w.n_layers):
        sb = head_vo(base_w, layer, fold_ln=True).svd
        st = head_vo(tuned_w, layer, fold_ln=True).svd
        d = delta_svd(sb, st)
        energy = (d.S.double() ** 2).sum(-1) / (sb.S.double() ** 2).sum(-1)
        for h in range(base_w.n_heads):
            rows.append((float(energy[h]), layer, h, d.Vh[h, 0]))
    rows.sort(key=lambda r: -r[0])
    config = ws.resolve(ws_request(ws))
    atoms = ws.atoms(config)
    concepts = ws.encoded().concepts
    out = []
    for energy, layer, h, v in rows[:n_heads]:
        t = joint_targets(base_w, torch.stack([v, -v]).float(), ws.image_mean())
        code = solve(t, atoms, 5, method="comp-0.3")
        best = int(code.fidelity.argmax())
        out.append(
            {
                "layer": layer,
                "head": h,
                "rel_energy": round(energy, 4),
                "sign": "+" if best == 0 else "-",
                "fidelity": round(float(code.fidelity[best]), 3),
                "concepts": [
                    [concepts[int(i)], round(float(w), 3)]
                    for w, i in zip(code.weights[best].tolist(), code.indices[best].tolist())
                    if w > 0
                ],
            }
        )
    return out


def ws_request(ws):
    from sith.pipeline import DecompositionConfig

    return DecompositionConfig(ws.clip.info.model_name, ws.clip.info.pretrained)


def worst_group(clip, model) -> dict:
    enc = loaded_encoders(dataclasses.replace(clip, model=model))
    with torch.no_grad():
        return spurious_group_accuracy(enc, n_per_group=100)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data-dir", type=Path, default=Path("data"))
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    clip = load_clip("sith-organism", "v1")
    base_w = clip.weights
    ws = organism_workspace(clip, data_dir=args.data_dir, progress=False)
    results = {"steps": args.steps, "seed": args.seed, "base": {"spurious": worst_group(clip, clip.model)}}
    for variant, mode in (("shifted", "full"), ("shifted", "lora"), ("train", "full")):
        model, losses = finetune(clip, variant=variant, mode=mode, steps=args.steps, seed=args.seed)
        tuned_w = extract(model, clip.info)
        per_layer = compare_weights(base_w, tuned_w)
        angles = {
            k: float(np.mean([m[k].mean().item() for m in per_layer.values()]))
            for k in ("read_angle_mean", "write_angle_mean", "match_cos_v_mean")
        }
        results[f"{variant}/{mode}"] = {
            "loss_first_last": [round(np.mean(losses[:10]), 4), round(np.mean(losses[-10:]), 4)],
            "spurious": worst_group(clip, model),
            **basis_shares(base_w, tuned_w),
            **angles,
            "top_delta_explanations": explain_top_deltas(ws, base_w, tuned_w),
        }
        print(
            json.dumps(
                {
                    f"{variant}/{mode}": {
                        k: v
                        for k, v in results[f"{variant}/{mode}"].items()
                        if k != "top_delta_explanations"
                    }
                }
            ),
            flush=True,
        )
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "finetune.json").write_text(json.dumps(results, indent=2) + "\n")
    lines = [
        "| fine-tuning | loss first→last 10 | worst group | avg group | heads changed | ΔW energy / ‖W‖² "
        "| inside own basis | inside another head's basis (null) | own > null (heads) | read angle ° "
        "| write angle ° |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
        f"| none (v1) | | {results['base']['spurious']['worst_group']:.3f} | "
        f"{results['base']['spurious']['average']:.3f} | | | | | | | |",
    ]
    for key in ("shifted/full", "shifted/lora", "train/full"):
        r = results[key]
        lines.append(
            f"| {key} | {r['loss_first_last'][0]} → {r['loss_first_last'][1]} "
            f"| {r['spurious']['worst_group']:.3f} "
            f"| {r['spurious']['average']:.3f} | {r['heads_changed']} | {r['mean_rel_energy']:.4f} "
            f"| {r['inside_both_own_basis']:.3f} | {r['inside_both_other_head_basis (null)']:.3f} "
            f"| {r['own_beats_null_heads']:.2f} | {r['read_angle_mean']:.1f} | {r['write_angle_mean']:.1f} |"
        )
    lines.append("")
    for key in ("shifted/full", "shifted/lora", "train/full"):
        lines.append(f"Top ΔW directions, {key}:")
        for e in results[key]["top_delta_explanations"]:
            words = ", ".join(f"{c} ({w})" for c, w in e["concepts"])
            lines.append(
                f"- L{e['layer']}H{e['head']} ({e['rel_energy']:.3f} of ‖W‖², {e['sign']}, "
                f"fid {e['fidelity']}): {words}"
            )
        lines.append("")
    (OUT / "finetune.md").write_text("\n".join(lines) + "\n")
    print((OUT / "finetune.md").read_text())


if __name__ == "__main__":
    main()
