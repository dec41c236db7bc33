"""What do the organism's bird-named components respond to: the bird, or its habitat?

The grounded validation (``accept.py``) scores a component whose top concept is "duck" or
"sparrow" by the AUC of its activation for images showing that bird. Those components score
near chance on every candidate (mean 0.50–0.63). If the model reads the bird through its
habitat (the planted shortcut), a "sparrow" component should instead fire on land-like
backgrounds and a "duck" one on water-like ones. This script measures both AUCs on the same
grounding draw as ``accept.py`` (2000 world images, image seed ``GROUND_SEED``):

    python experiments/organism/bird_components.py EXPORT ACCEPT.json OUT.json

``EXPORT``: the organism (a tag such as ``v1`` or an exported ``.safetensors``); ``ACCEPT.json``:
its ``accept.py`` result (which components are bird-named, top-concept rule). Controls, on the
same images: the background-named components (habitat AUC of a component about habitat) and
every analysed component of the same layers (how far a habitat AUC strays from 0.5 by chance:
mean of ``max(auc, 1 - auc)``). Also each bird-named component's bird AUC among bird images
only (duck vs sparrow, habitat left to vary).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch
from accept import LAYERS

from sith.ground import grounded_auc
from sith.io import save_json
from sith.load import load_clip
from sith.organism import ORGANISM_NAME
from sith.organism.grounded import world_activations, world_positive


def habitat(labels: dict[str, np.ndarray], bird: str) -> np.ndarray:
    """``(n,)`` bool: the habitat a bird's shortcut points to (duck: water-like, sparrow: land)."""
    water = labels["water"].astype(bool)
    return water if bird == "duck" else ~water


def signed(a: np.ndarray, y: np.ndarray, stored_auc: float) -> np.ndarray:
    """``a`` times the sign that reproduces accept.py's AUC (its explanation's polarity);
    AUC(-a) = 1 - AUC(a), so the sign is recovered exactly (checked)."""
    auc = grounded_auc(a, y)
    sign = 1.0 if abs(auc - stored_auc) <= abs(1 - auc - stored_auc) else -1.0
    if min(abs(auc - stored_auc), abs(1 - auc - stored_auc)) > 1e-6:
        raise SystemExit(f"cannot reproduce accept.py's AUC {stored_auc:.4f} (got {auc:.4f}): "
                         "same EXPORT and ACCEPT.json?")
    return sign * a


def off_chance(aucs: list[float]) -> float:
    return float(np.mean([max(a, 1 - a) for a in aucs])) if aucs else float("nan")


def main(pretrained: str, accept_json: str, out: str) -> None:
    torch.set_num_threads(2)
    accept = json.loads(Path(accept_json).read_text())["grounded"]
    items = [it for it in accept["items"]["trained"] if it["rule"] == "top"]
    clip = load_clip(ORGANISM_NAME, pretrained)
    wa = world_activations(clip, LAYERS, clip.weights.d_head, n_images=accept["n_images"],
                           seed=accept["image_seed"])
    lab = wa.labels
    water = habitat(lab, "duck")
    is_bird = lab["bird"] >= 0
    birds, backgrounds = [], []
    for it in items:
        a = wa.of([tuple(it["component"])])[:, 0]
        a = signed(a, world_positive(lab, it["factor"], it["value"]), it["auc"])
        if it["factor"] == "bird":
            birds.append({"component": it["component"], "value": it["value"], "bird_auc": round(it["auc"], 4),
                          "habitat_auc": round(grounded_auc(a, habitat(lab, it["value"])), 4),
                          "bird_auc_among_birds": round(grounded_auc(
                              a[is_bird], world_positive(lab, "bird", it["value"])[is_bird]), 4)})
        elif it["factor"] == "background":
            backgrounds.append(grounded_auc(a, water))
    keys = [(layer, h, i) for layer in LAYERS for h in range(clip.weights.n_heads)
            for i in range(clip.weights.d_head)]
    every = wa.of(keys)
    chance = [grounded_auc(every[:, j], water) for j in range(every.shape[1])]
    res = {"pretrained": pretrained, "accept_json": accept_json, "n_images": accept["n_images"],
           "image_seed": accept["image_seed"], "bird_named": birds,
           "summary": {
               "bird_named": len(birds),
               "mean_bird_auc": float(np.mean([b["bird_auc"] for b in birds])) if birds else None,
               "mean_habitat_auc": float(np.mean([b["habitat_auc"] for b in birds])) if birds else None,
               "mean_bird_auc_among_birds": float(np.mean([b["bird_auc_among_birds"] for b in birds]))
               if birds else None,
               "bird_named_habitat_offchance": off_chance([b["habitat_auc"] for b in birds]),
               "background_named_water_offchance": off_chance(backgrounds),
               "all_components_water_offchance": off_chance(chance)}}
    print(json.dumps(res["summary"], indent=1))
    for b in birds:
        print(b)
    save_json(res, out)


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit("usage: bird_components.py EXPORT ACCEPT.json OUT.json")
    main(*sys.argv[1:])
