"""Loading the built-in model organism (docs/method.md §1); :data:`sith.organism.plugin.ENTRY`
names :func:`load_organism` as its loader.

``load_clip("sith-organism", tag)``: ``tag`` is a shipped tag (``ORGANISM_TAGS``),
``""``/``"none"`` (the same architecture, randomly initialised with seed 0, so the same
random model every run) or a checkpoint file
(e.g. an edited organism written by :func:`sith.load.save_model`; an exported organism,
``organism-{tag}.safetensors`` with its ``.json`` beside it, is built from that json's
architecture and normalisation). The organism is an
open_clip ``CLIP`` (:func:`sith.organism.model.build_organism`), so the open_clip
backend does everything after loading; its image normalisation, context length and
image size come from the shipped config.
"""

from __future__ import annotations

import open_clip
import torch

from sith.errors import SithError
from sith.load.clip import LoadedClip
from sith.load.openclip import RANDOM_INIT_SEED, wrap_open_clip
from sith.load.openclip_checks import check_architecture
from sith.load.registry import is_none_tag
from sith.load.writeback import is_checkpoint_path, load_checkpoint_into
from sith.organism import ORGANISM_NAME, ORGANISM_TAG, ORGANISM_TAGS
from sith.organism import model as organism_model
from sith.organism.train import build_model


def load_organism(model_name: str, pretrained: str | None, device: torch.device) -> LoadedClip:
    """The organism with a shipped tag, ``""``/``"none"`` (random) or a checkpoint file."""
    tag = "" if is_none_tag(pretrained) else str(pretrained).strip()
    path = tag if tag and is_checkpoint_path(tag) else ""
    if tag and not path and tag not in ORGANISM_TAGS:
        raise SithError(
            f"unknown pretrained tag {tag!r} for {ORGANISM_NAME}; valid tags: "
            f"{', '.join(ORGANISM_TAGS)} (or none, or a checkpoint file)"
        )
    exported = organism_model.exported_config(path) if path else None
    shipped = tag if tag in ORGANISM_TAGS else ORGANISM_TAG  # random/checkpoint: the default's config
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(RANDOM_INIT_SEED)  # `--pretrained none`: the same random model every time
        if exported is not None:  # an exported organism: its own architecture and normalisation
            model = build_model(exported).float().eval()
        else:
            model = organism_model.build_organism(pretrained=(tag in ORGANISM_TAGS), tag=shipped)
    check_architecture(model, ORGANISM_NAME)
    if path:
        load_checkpoint_into(model, path, ORGANISM_NAME)
    cfg = (exported or organism_model.organism_config(shipped)).get("sith", {})
    mean, std = cfg.get("image_mean"), cfg.get("image_std")
    return wrap_open_clip(
        model,
        model_name=ORGANISM_NAME,
        pretrained=str(path or tag),
        tokenizer=open_clip.SimpleTokenizer(context_length=model.context_length),
        image_mean=tuple(mean) if mean is not None else None,
        image_std=tuple(std) if std is not None else None,
        device=device,
    )

