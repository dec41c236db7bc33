"""The shipped model organism: config, asset paths and :func:`build_organism`.

Assets (``sith/organism/assets/``), per shipped tag (:data:`sith.organism.ORGANISM_TAGS`;
the default is :data:`sith.organism.ORGANISM_TAG`):

* ``organism-{tag}.json`` — open_clip model config (``embed_dim``, ``vision_cfg``,
  ``text_cfg``) plus a ``"sith"`` section: ``format`` (``sith-organism/1``,
  :mod:`sith.organism.formats`; checked on every read), ``image_size``, ``image_mean``/``image_std``
  (normalisation of ``[0, 1]`` images), ``context_length``, ``seed``,
  ``generator_version``, ``train_config``, ``training_time_s`` and ``measured`` accuracies.
* ``organism-{tag}.safetensors`` — the open_clip ``CLIP`` state dict in float16.
* ``pool.txt`` — the concept pool: world vocabulary, short phrases and distractors;
  ``pool-v2.txt`` — the same plus the words v2's captions teach
  (:func:`sith.organism.vocab.v2_pool`), the default pool of an organism trained on world v2.
"""

from __future__ import annotations

import json
from pathlib import Path

import open_clip
import torch

from sith.errors import SithError
from sith.io import atomic_write, load_pt, save_json
from sith.organism import ORGANISM_NAME, ORGANISM_TAG, ORGANISM_TAGS
from sith.organism.formats import CONFIG_FORMAT, check_checkpoint, check_config
from sith.organism.train import build_model
from sith.organism.zeroshot import Encoders, clip_encoders

ASSET_DIR = Path(__file__).resolve().parent / "assets"
POOL_FILE, POOL_V2_FILE = "pool.txt", "pool-v2.txt"


def config_file(tag: str = ORGANISM_TAG) -> str:
    """The config asset's name for ``tag`` (``organism-{tag}.json``)."""
    return f"organism-{tag}.json"


def weights_file(tag: str = ORGANISM_TAG) -> str:
    """The weights asset's name for ``tag`` (``organism-{tag}.safetensors``)."""
    return f"organism-{tag}.safetensors"


CONFIG_FILE = config_file()
WEIGHTS_FILE = weights_file()
_ASSETS = tuple(f(t) for t in ORGANISM_TAGS for f in (config_file, weights_file)) + (POOL_FILE, POOL_V2_FILE)


def asset_path(name: str) -> Path:
    """Path of a shipped asset (``organism-{tag}.json``, ``organism-{tag}.safetensors``, the pools).

    Raises SithError for an unknown name or a missing file.
    """
    if name not in _ASSETS:
        raise SithError(f"unknown organism asset {name!r}; choose one of {list(_ASSETS)}")
    path = ASSET_DIR / name
    if not path.is_file():
        raise SithError(f"organism asset {path} is missing; reinstall sith or retrain with "
                        "`sith organism train` and export the assets")
    return path


def _check_tag(tag: str) -> str:
    if tag not in ORGANISM_TAGS:
        raise SithError(f"unknown organism tag {tag!r}; shipped tags: {', '.join(ORGANISM_TAGS)}")
    return tag


def organism_config(tag: str = ORGANISM_TAG) -> dict:
    """The organism's open_clip model config with its ``"sith"`` section (a fresh copy; its
    format tag checked)."""
    path = asset_path(config_file(_check_tag(tag)))
    return check_config(json.loads(path.read_text(encoding="utf-8")), path)


def exported_config(weights: str | Path) -> dict | None:
    """The config of an exported organism (``organism-*.json`` beside its ``.safetensors``,
    as :func:`export_organism` writes them), or None for any other checkpoint (no json
    beside it, or one that is not a sith organism's). An organism json without the format
    tag (an older export) or with another one is a SithError (:func:`check_config`).

    The head count is not visible in a state dict's shapes, so a checkpoint exported with
    another architecture must be built from its own config, not the shipped one.
    """
    meta = Path(weights).with_suffix(".json")
    if Path(weights).suffix != ".safetensors" or not meta.is_file():
        return None
    try:
        cfg = json.loads(meta.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    section = cfg.get("sith") if isinstance(cfg, dict) else None
    ours = isinstance(section, dict) and section.get("name") == ORGANISM_NAME
    return check_config(cfg, meta) if ours else None


def recorded_config(model_name: str, pretrained: str) -> dict | None:
    """The config of an organism by its load names (a shipped tag's, or an exported checkpoint's
    json beside it); None for any other model."""
    if model_name != ORGANISM_NAME:
        return None
    return organism_config(pretrained) if pretrained in ORGANISM_TAGS else exported_config(pretrained)


def recorded_train_config(model_name: str, pretrained: str) -> dict:
    """The training config an organism records (``"sith" → "train_config"``); ``{}`` for any
    other model."""
    cfg = recorded_config(model_name, pretrained)
    return dict(((cfg or {}).get("sith") or {}).get("train_config") or {})


def recorded_world(model_name: str, pretrained: str) -> str:
    """The world an organism was trained on (``"v1"`` unless its training config says otherwise)."""
    return str(recorded_train_config(model_name, pretrained).get("world") or "v1")


def build_organism(pretrained: bool = True, tag: str = ORGANISM_TAG) -> open_clip.CLIP:
    """The organism ``tag`` as an open_clip ``CLIP`` in eval mode, float32.

    Args:
        pretrained: load the shipped weights; ``False`` gives the same architecture
            with open_clip's random initialisation.
        tag: which shipped organism (:data:`sith.organism.ORGANISM_TAGS`).

    Raises:
        SithError: if the assets are missing or do not match the architecture.
    """
    cfg = organism_config(tag)
    model = build_model(cfg)
    if pretrained:
        from safetensors.torch import load_file

        state = load_file(str(asset_path(weights_file(tag))))
        try:
            model.load_state_dict({k: v.float() for k, v in state.items()})
        except RuntimeError as exc:
            raise SithError(f"organism weights do not match {config_file(tag)} "
                            f"({str(exc).splitlines()[0][:100]}); reinstall sith") from None
    return model.float().eval()


def organism_encoders(model: torch.nn.Module | None = None, tag: str = ORGANISM_TAG) -> Encoders:
    """:class:`~sith.organism.zeroshot.Encoders` for the organism ``tag`` (or an edited copy
    of it), with the shipped normalisation, context length and image size."""
    sith_cfg = organism_config(tag)["sith"]
    return clip_encoders(
        build_organism(tag=tag) if model is None else model, mean=sith_cfg["image_mean"],
        std=sith_cfg["image_std"], context_length=sith_cfg["context_length"],
        image_size=sith_cfg["image_size"],
    )


def exports_dir(data_dir: str | Path) -> Path:
    """``DATA_DIR/organisms``: where ``sith organism export`` writes by default (never the
    installed package's ``ASSET_DIR``)."""
    return Path(data_dir) / "organisms"


def export_organism(
    checkpoint: str | Path, *, out_dir: str | Path, tag: str = ORGANISM_TAG,
    measured: dict | None = None, measured_by: str = "",
) -> Path:
    """Write ``organism-{tag}.safetensors`` (fp16) and ``organism-{tag}.json`` into ``out_dir``
    from a training checkpoint made by :func:`sith.organism.train.train`; returns the json path.
    Shipping an export means copying it into ``ASSET_DIR`` by hand (nothing writes there)."""
    from safetensors.torch import save_file

    state = check_checkpoint(load_pt(checkpoint, what="organism checkpoint"), checkpoint)
    tc = state["train_config"]
    out = Path(out_dir)
    weights = {k: v.detach().to(torch.float16).contiguous() for k, v in state["model"].items()}
    atomic_write(out / weights_file(tag), lambda p: save_file(weights, str(p)))
    cfg = dict(state["model_config"])
    cfg["sith"] = {
        "format": CONFIG_FORMAT, "name": ORGANISM_NAME, "tag": tag, "image_size": tc["image_size"],
        "image_mean": state["image_mean"], "image_std": state["image_std"],
        "context_length": tc["context_length"], "seed": tc["seed"],
        "generator_version": state["generator_version"], "steps": state["step"],
        "training_time_s": round(float(state["elapsed_s"]), 1), "train_config": tc,
        "measured": measured or {}, "measured_by": measured_by,
        "init_from": state.get("init_from", ""),
    }
    return save_json(cfg, out / config_file(tag))
