"""The sessions of :mod:`sith.api`: one :class:`~sith.pipeline.Workspace` per model, loaded once
and reused by every API call (its caches too)."""

from __future__ import annotations

from pathlib import Path

import sith.organism.plugin  # noqa: F401 - registers the built-in organism (the default model)
from sith.paths import DEFAULT_DATA_DIR
from sith.pipeline import Workspace


def load_model(model_name: str | None, pretrained: str | None, device: str = "cpu"):  # noqa: ANN201
    """The model (``sith.load.LoadedClip``) by name and tag; None gives the built-in organism."""
    from sith.load import load_clip
    from sith.load.clip import default_names

    return load_clip(*default_names(model_name, pretrained), device=device)


#: Open sessions: ``(model_name, pretrained, data_dir, device) -> Workspace`` (see :func:`workspace`).
SESSIONS: dict[tuple[str, str, str, str], Workspace] = {}
#: Sessions kept open at once (each holds a model and its SVDs).
MAX_SESSIONS = 2


def workspace(
    model_name: str | None = None,
    pretrained: str | None = None,
    *,
    data_dir: str | Path = DEFAULT_DATA_DIR,
    device: str = "cpu",
    progress: bool = True,
) -> Workspace:
    """The session of a model: a :class:`Workspace` with the seed's defaults (dictionary
    ``conceptnet``; for the built-in organism its own pool, and its image mean made from its
    world's images when missing). The model is loaded once per ``(model, tag, data dir,
    device)`` and reused by every later API call (its caches too); :func:`close` drops them."""
    from sith.load.clip import default_names

    key = (*default_names(model_name, pretrained), str(Path(data_dir)), str(device))
    ws = SESSIONS.get(key)
    if ws is None:
        ws = SESSIONS[key] = open_session(key[0], key[1], data_dir=data_dir, device=device)
        while len(SESSIONS) > MAX_SESSIONS:
            SESSIONS.pop(next(iter(SESSIONS)))
    ws.progress = progress
    return ws


def close() -> None:
    """Drop every open session (models, SVDs, encoded dictionaries): the next call loads again."""
    SESSIONS.clear()


def open_session(model_name: str, pretrained: str, *, data_dir: str | Path, device: str) -> Workspace:
    from sith.organism import ORGANISM_NAME

    clip = load_model(model_name, pretrained, device)
    if clip.info.model_name != ORGANISM_NAME:
        return Workspace(clip, data_dir=data_dir, device=device)
    from sith.organism.inputs import organism_workspace

    return organism_workspace(clip, data_dir=data_dir, device=device, progress=True)
