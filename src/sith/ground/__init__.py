"""Grounding: which images and where in them each singular component responds (issue 11).

Public API::

    ground(clip, ImageSource(...), layers=..., rank=..., k=16) -> Grounding
    save_grounding(grounding, out_dir) -> list[Path];  load_grounding(path) -> dict
    component_activations(capture, svd, rank) -> (B, H, rank)
    grounded_auc(activations, labels) -> float;  top_precision(activations, labels, k=20)
    register_image_source(name, LabelledImages(...))   # e.g. the organism's world images

Importing this package is cheap (no model library): the names are imported on first use
(PEP 562), so a plugin can register an image source (:mod:`sith.ground.registry`) without
loading open_clip. ``sith ground`` is :func:`sith.api.ground` (the model's session,
:meth:`sith.pipeline.Workspace.ground`).
"""

from sith.ground.registry import LabelledImages, image_source, register_image_source
from sith.lazy import lazy_getattr

#: Names imported on first use, and the module that defines each.
LAZY = {
    "component_activations": "sith.ground.activations",
    "token_terms": "sith.ground.activations",
    "Grounding": "sith.ground.run",
    "ground": "sith.ground.run",
    "load_grounding": "sith.ground.save",
    "save_grounding": "sith.ground.save",
    "grounded_auc": "sith.ground.scoring",
    "top_precision": "sith.ground.scoring",
    "ImageSource": "sith.ground.sources",
}


__getattr__ = lazy_getattr("sith.ground", LAZY, globals())


__all__ = [
    "Grounding",
    "ImageSource",
    "LabelledImages",
    "component_activations",
    "ground",
    "grounded_auc",
    "image_source",
    "load_grounding",
    "register_image_source",
    "save_grounding",
    "token_terms",
    "top_precision",
]
