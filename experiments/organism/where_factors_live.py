"""Where does the organism keep each factor? Linear probes on what each sublayer writes.

Why (issue 11, item 6): few of the organism's attention-head components are explained by
shape or size words, and grounded AUC is lowest for those factors. If shape reaches the class
token mainly through the MLPs, no head explanation can name it, whatever the organism's
zero-shot accuracy. This script measures it directly: on fresh world images it captures, for
the class token, what every block's attention (all heads summed) and MLP write into the
residual stream, what each head of the last 4 layers reads for it (its attention-weighted
values, ``(d_head,)``: the head's write is this times its full-rank W_O slice), and the final
residual; a logistic-regression probe per factor is trained on
1500 images and scored on 500 others. Control: the same architecture with random weights
(the probe alone, on features that learned nothing).

Run:  python experiments/organism/where_factors_live.py [TAG_OR_CHECKPOINT] [OUT.json]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression

from sith.io import save_json
from sith.load import load_clip
from sith.organism import ORGANISM_NAME, ORGANISM_TAG
from sith.organism.world import sample
from sith.organism.zeroshot import normalize_images

FACTORS = ("shape", "color", "size", "background")
N_TRAIN, N_TEST, SEED = 1500, 500, 31_337


def cls_writes(clip, images: np.ndarray, batch: int = 250) -> dict[str, np.ndarray]:
    """``{"L{l}.attn"|"L{l}.mlp"|"final": (n, d)}``: what each sublayer adds to the class token."""
    visual = clip.model.visual
    blocks = visual.transformer.resblocks
    batch_first = getattr(visual.transformer, "batch_first", True)
    store: dict[str, list[np.ndarray]] = {}

    def hook(name: str):
        def grab(_m, _i, out):
            cls = out[:, 0] if batch_first else out[0]
            store.setdefault(name, []).append(cls.detach().double().numpy())
        return grab

    def head_reads(i: int, attn: torch.nn.MultiheadAttention):
        def grab(_m, _i, out):
            x = out if batch_first else out.transpose(0, 1)  # (n, T, d): ln_1 output
            q, k, v = torch.nn.functional.linear(x, attn.in_proj_weight, attn.in_proj_bias).chunk(3, -1)
            n, t, d = x.shape
            h = attn.num_heads
            q, k, v = (z.reshape(n, t, h, d // h).transpose(1, 2) for z in (q, k, v))
            a = torch.softmax(q[:, :, :1] @ k.transpose(-1, -2) / (d // h) ** 0.5, dim=-1)
            reads = (a @ v)[:, :, 0]  # (n, h, d_head)
            for j in range(h):
                store.setdefault(f"L{i}.H{j}", []).append(reads[:, j].detach().double().numpy())
        return grab

    handles = [b.ln_1.register_forward_hook(head_reads(i, b.attn)) for i, b in enumerate(blocks)
               if i >= len(blocks) - 4]
    handles += [b.ls_1.register_forward_hook(hook(f"L{i}.attn")) for i, b in enumerate(blocks)]
    handles += [b.ls_2.register_forward_hook(hook(f"L{i}.mlp")) for i, b in enumerate(blocks)]
    handles.append(visual.ln_post.register_forward_hook(
        lambda _m, _i, out: store.setdefault("final", []).append(
            (out[:, 0] if out.ndim == 3 else out).detach().double().numpy())))
    try:
        with torch.no_grad():
            for s in range(0, len(images), batch):
                x = normalize_images(torch.from_numpy(images[s:s + batch]), clip.image_mean, clip.image_std)
                clip.model.encode_image(x)
    finally:
        for h in handles:
            h.remove()
    return {k: np.concatenate(v) for k, v in store.items()}


def probe_accuracy(x: np.ndarray, y: np.ndarray) -> float:
    mu, sd = x[:N_TRAIN].mean(0), x[:N_TRAIN].std(0) + 1e-8
    z = (x - mu) / sd
    clf = LogisticRegression(max_iter=2000, C=1.0).fit(z[:N_TRAIN], y[:N_TRAIN])
    return float((clf.predict(z[N_TRAIN:]) == y[N_TRAIN:]).mean())


def probes(pretrained: str, images: np.ndarray, labels: dict[str, np.ndarray]) -> dict:
    clip = load_clip(ORGANISM_NAME, pretrained)
    writes = cls_writes(clip, images)
    return {site: {f: probe_accuracy(x, labels[f]) for f in FACTORS} for site, x in writes.items()}


if __name__ == "__main__":
    torch.set_num_threads(2)
    pretrained = sys.argv[1] if len(sys.argv) > 1 else ORGANISM_TAG
    out = Path(sys.argv[2] if len(sys.argv) > 2 else "experiments/organism/results/where_factors_live.json")
    world = sample(N_TRAIN + N_TEST, seed=SEED, bird=-1, unsafe=0)
    labels = {f: world.labels[f] for f in FACTORS}
    res = {"pretrained": pretrained, "n_train": N_TRAIN, "n_test": N_TEST, "seed": SEED,
           "chance": {f: float(np.bincount(labels[f][N_TRAIN:]).max() / N_TEST) for f in FACTORS},
           "trained": probes(pretrained, world.images, labels),
           "random weights": probes("none", world.images, labels)}
    print(json.dumps({k: v for k, v in res.items() if k in ("chance",)}))
    for name in ("trained", "random weights"):
        print(name)
        for site, acc in res[name].items():
            if ".H" not in site:
                print(f"  {site:8s} " + " ".join(f"{f} {acc[f]:.2f}" for f in FACTORS))
        heads = {s: a for s, a in res[name].items() if ".H" in s}
        for f in FACTORS:
            best = sorted(heads, key=lambda s: -heads[s][f])[:3]
            print(f"  heads, {f}: best " + ", ".join(f"{s} {heads[s][f]:.2f}" for s in best)
                  + f"; median {np.median([a[f] for a in heads.values()]):.2f}")
    print(save_json(res, out))
