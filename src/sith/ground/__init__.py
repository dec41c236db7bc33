"""Grounding: which images and where in them each singular component responds (issue 11).

Public API::

    ground(clip, ImageSource(...), layers=..., rank=..., k=16) -> Grounding
    ground_model(model_name, pretrained, images=... | world=N, ...) -> list[Path]
    save_grounding(grounding, out_dir) -> list[Path];  load_grounding(path) -> dict
    component_activations(capture, svd, rank) -> (B, H, rank)
    grounded_auc(activations, labels) -> float;  top_precision(activations, labels, k=20)
"""

from sith.ground.activations import component_activations, token_terms
from sith.ground.pipeline import ground_model
from sith.ground.run import Grounding, ground
from sith.ground.save import load_grounding, save_grounding
from sith.ground.scoring import grounded_auc, top_precision
from sith.ground.sources import ImageSource

__all__ = [
    "Grounding",
    "ImageSource",
    "component_activations",
    "ground",
    "ground_model",
    "grounded_auc",
    "load_grounding",
    "save_grounding",
    "token_terms",
    "top_precision",
]
