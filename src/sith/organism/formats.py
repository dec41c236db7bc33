"""The organism's files: their format tags (issue 23), the checks, and the warm-start reader.

* ``organism-{tag}.json`` (``sith organism export``, the shipped assets): an open_clip
  model config with a ``"sith"`` section whose ``"format"`` is :data:`CONFIG_FORMAT`
  (the tag lives inside that section so the top level stays an open_clip config);
* ``checkpoint.pt`` (``sith organism train``): a dict whose ``"format"`` is
  :data:`CHECKPOINT_FORMAT`. Checkpoints written before the tag (same keys, no
  ``format``) are read as the same format, so an interrupted run still resumes.

:func:`load_init` reads either for ``sith organism train --init-from``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sith.errors import ConfigError, SithError
from sith.io import load_pt

CONFIG_FORMAT = "sith-organism/1"
CHECKPOINT_FORMAT = "sith-organism-checkpoint/1"
#: The keys every training checkpoint has had (tagged or not).
CHECKPOINT_KEYS = ("model", "train_config", "model_config", "image_mean", "image_std", "step")


def check_config(cfg: Any, path: str | Path) -> dict[str, Any]:
    """``cfg`` (an organism json's content) if it is a :data:`CONFIG_FORMAT` config; else a
    one-line SithError saying what the file is and how to get a readable one."""
    section = cfg.get("sith") if isinstance(cfg, dict) else None
    if not isinstance(section, dict) or not {"embed_dim", "vision_cfg", "text_cfg"} <= set(cfg):
        raise SithError(f"{path} is not an organism config ({CONFIG_FORMAT}); export the organism again "
                        "with `sith organism export`")
    found = section.get("format")
    if found == CONFIG_FORMAT:
        return cfg
    if found is None:
        raise SithError(
            f"{path} was written by an older `sith organism export` (no format tag in its \"sith\" "
            f"section); export the checkpoint again, or add \"format\": \"{CONFIG_FORMAT}\" to that section"
        )
    raise SithError(f"{path} is organism format {found!r}; this sith reads {CONFIG_FORMAT}: upgrade sith "
                    "or export it again with this version")


def check_checkpoint(state: Any, path: str | Path) -> dict[str, Any]:
    """``state`` if it is a training checkpoint (:data:`CHECKPOINT_FORMAT`, or an untagged one
    of an earlier sith with the same keys); else a one-line SithError."""
    found = state.get("format") if isinstance(state, dict) else None
    ok = found == CHECKPOINT_FORMAT or (found is None and isinstance(state, dict))
    if not ok or not set(CHECKPOINT_KEYS) <= set(state):
        what = f"format {found!r}" if found else "a file without the checkpoint keys"
        raise SithError(f"{path} is not an organism training checkpoint ({what}); pass the checkpoint.pt "
                        "that `sith organism train` wrote")
    return state


def load_init(path: str | Path) -> dict:
    """A warm start for :func:`train`: ``{"model", "image_mean", "image_std", "source"}`` from
    a training checkpoint, or from an exported organism (``organism-*.safetensors`` with its
    ``.json`` beside it; the weights are widened from fp16 to fp32)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError("init_from", f"{{name}} {path} not found; pass a training checkpoint.pt or an "
                          "exported organism-*.safetensors")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        meta = path.with_suffix(".json")
        if not meta.is_file():
            raise SithError(f"{path} has no {meta.name} beside it; pass a training checkpoint "
                            "or an exported organism with its json")
        try:
            cfg = json.loads(meta.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise SithError(f"{meta} is not valid JSON; export the organism again") from None
        sith_cfg = check_config(cfg, meta)["sith"]
        model = {k: v.float() for k, v in load_file(str(path)).items()}
        return {"model": model, "image_mean": sith_cfg["image_mean"],
                "image_std": sith_cfg["image_std"],
                "source": f"{sith_cfg['name']}:{sith_cfg['tag']}"}
    state = check_checkpoint(load_pt(path, what="organism checkpoint"), path)
    return {"model": state["model"], "image_mean": state["image_mean"],
            "image_std": state["image_std"], "source": str(path.name)}
