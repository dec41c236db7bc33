"""Shape-learnability probe: supervised shape classification with the organism's vision tower.

Run: OMP_NUM_THREADS=2 python experiments/organism/shape_probe.py [seconds]
Prints held-out shape accuracy over time (single-object images, all sizes/backgrounds).
"""
import sys
import time

import open_clip
import torch

from sith.organism.world import FACTORS, sample, single_object_set

torch.set_num_threads(int(__import__("os").environ.get("PROBE_THREADS", "2")))
torch.manual_seed(0)
budget = float(sys.argv[1]) if len(sys.argv) > 1 else 240
lr = float(sys.argv[2]) if len(sys.argv) > 2 else 5e-4
vis = open_clip.CLIP(
    embed_dim=128,
    vision_cfg=dict(image_size=64, patch_size=8, width=128, layers=6, head_width=16),
    text_cfg=dict(context_length=32, vocab_size=49408, width=128, heads=8, layers=3),
).visual
head = torch.nn.Linear(128, len(FACTORS["shape"]))
opt = torch.optim.AdamW(list(vis.parameters()) + list(head.parameters()), lr=lr, weight_decay=0.05)
test = single_object_set(400, seed=999, factor="shape")
xt = (torch.from_numpy(test.images) - 0.5) / 0.25
yt = torch.from_numpy(test.labels["shape"])
t0, step = time.time(), 0
while time.time() - t0 < budget:
    b = sample(int(sys.argv[3]) if len(sys.argv) > 3 else 128, seed=[1, step], bird=-1)
    x = (torch.from_numpy(b.images) - 0.5) / 0.25
    y = torch.from_numpy(b.labels["shape"])
    for g in opt.param_groups:
        g['lr'] = lr * min(1.0, (step + 1) / 50)
    loss = torch.nn.functional.cross_entropy(head(vis(x)), y)
    opt.zero_grad()
    loss.backward()
    opt.step()
    step += 1
    if step % 50 == 0:
        with torch.no_grad():
            acc = (head(vis(xt)).argmax(1) == yt).float().mean().item()
        print(f"step {step} t={time.time() - t0:.0f}s loss={loss.item():.3f} acc={acc:.3f}", flush=True)
