"""Format tags of the organism's files (issue 23) and their checks.

* ``organism-{tag}.json`` (``sith organism export``, the shipped assets): an open_clip
  model config with a ``"sith"`` section whose ``"format"`` is :data:`CONFIG_FORMAT`
  (the tag lives inside that section so the top level stays an open_clip config);
* ``checkpoint.pt`` (``sith organism train``): a dict whose ``"format"`` is
  :data:`CHECKPOINT_FORMAT`. Checkpoints written before the tag (same keys, no
  ``format``) are read as the same format, so an interrupted run still resumes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sith.errors import SithError

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
