"""The shipped model organism: config, asset paths and :func:`build_organism`.

Assets (``sith/organism/assets/``):

* ``organism-v1.json`` — open_clip model config (``embed_dim``, ``vision_cfg``,
  ``text_cfg``) plus a ``"sith"`` section: ``image_size``, ``image_mean``/``image_std``
  (normalisation of ``[0, 1]`` images), ``context_length``, ``seed``,
  ``generator_version``, ``train_config``, ``training_time_s`` and ``measured`` accuracies.
* ``organism-v1.safetensors`` — the open_clip ``CLIP`` state dict in float16.
* ``pool.txt`` — the concept pool: world vocabulary, short phrases and distractors.
"""

from __future__ import annotations

import json
from pathlib import Path

import open_clip
import torch

from sith.errors import SithError
from sith.io import atomic_write, load_pt, save_json
from sith.organism import ORGANISM_NAME, ORGANISM_TAG
from sith.organism.train import build_model
from sith.organism.zeroshot import Encoders, clip_encoders

ASSET_DIR = Path(__file__).resolve().parent / "assets"
CONFIG_FILE = f"organism-{ORGANISM_TAG}.json"
WEIGHTS_FILE = f"organism-{ORGANISM_TAG}.safetensors"
POOL_FILE = "pool.txt"
_ASSETS = (CONFIG_FILE, WEIGHTS_FILE, POOL_FILE)


def asset_path(name: str) -> Path:
    """Path of a shipped asset (``organism-v1.json``, ``organism-v1.safetensors``, ``pool.txt``).

    Raises SithError for an unknown name or a missing file.
    """
    if name not in _ASSETS:
        raise SithError(f"unknown organism asset {name!r}; choose one of {list(_ASSETS)}")
    path = ASSET_DIR / name
    if not path.is_file():
        raise SithError(f"organism asset {path} is missing; reinstall sith or retrain with "
                        "`sith organism train` and export the assets")
    return path


def organism_config() -> dict:
    """The organism's open_clip model config with its ``"sith"`` section (a fresh copy)."""
    return json.loads(asset_path(CONFIG_FILE).read_text())


def build_organism(pretrained: bool = True) -> open_clip.CLIP:
    """The organism as an open_clip ``CLIP`` in eval mode, float32.

    Args:
        pretrained: load the shipped weights; ``False`` gives the same architecture
            with open_clip's random initialisation.

    Raises:
        SithError: if the assets are missing or do not match the architecture.
    """
    cfg = organism_config()
    model = build_model(cfg)
    if pretrained:
        from safetensors.torch import load_file

        state = load_file(str(asset_path(WEIGHTS_FILE)))
        try:
            model.load_state_dict({k: v.float() for k, v in state.items()})
        except RuntimeError as exc:
            raise SithError(f"organism weights do not match {CONFIG_FILE} "
                            f"({str(exc).splitlines()[0][:100]}); reinstall sith") from None
    return model.float().eval()


def organism_encoders(model: torch.nn.Module | None = None) -> Encoders:
    """:class:`~sith.organism.zeroshot.Encoders` for the organism (or an edited copy of it),
    with the shipped normalisation, context length and image size."""
    sith_cfg = organism_config()["sith"]
    return clip_encoders(
        build_organism() if model is None else model, mean=sith_cfg["image_mean"],
        std=sith_cfg["image_std"], context_length=sith_cfg["context_length"],
        image_size=sith_cfg["image_size"],
    )


def export_organism(
    checkpoint: str | Path, *, out_dir: str | Path = ASSET_DIR,
    measured: dict | None = None, measured_by: str = "",
) -> Path:
    """Write ``organism-v1.safetensors`` (fp16) and ``organism-v1.json`` from a training
    checkpoint made by :func:`sith.organism.train.train`; returns the json path."""
    from safetensors.torch import save_file

    state = load_pt(checkpoint, what="organism checkpoint")
    tc = state["train_config"]
    out = Path(out_dir)
    weights = {k: v.detach().to(torch.float16).contiguous() for k, v in state["model"].items()}
    atomic_write(out / WEIGHTS_FILE, lambda p: save_file(weights, str(p)))
    cfg = dict(state["model_config"])
    cfg["sith"] = {
        "name": ORGANISM_NAME, "tag": ORGANISM_TAG, "image_size": tc["image_size"],
        "image_mean": state["image_mean"], "image_std": state["image_std"],
        "context_length": tc["context_length"], "seed": tc["seed"],
        "generator_version": state["generator_version"], "steps": state["step"],
        "training_time_s": round(float(state["elapsed_s"]), 1), "train_config": tc,
        "measured": measured or {}, "measured_by": measured_by,
    }
    return save_json(cfg, out / CONFIG_FILE)
