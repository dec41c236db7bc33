"""The sessions of :mod:`sith.api`: one :class:`~sith.pipeline.Workspace` per model, loaded once
and reused by every API call (its caches too; the SVDs live on the model's weight view).

The most recently used :data:`MAX_SESSIONS` sessions are kept (least recently used dropped
first). Each call gets its own view of the session with its own run options
(:meth:`Workspace.using`), so one call's ``progress`` never leaks into another's.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING

from sith.paths import DEFAULT_DATA_DIR
from sith.pipeline import Workspace

if TYPE_CHECKING:
    from sith.load.clip import LoadedClip


def load_model(model_name: str | None, pretrained: str | None, device: str = "cpu") -> LoadedClip:
    """The model by name and tag; None gives the default model (the built-in organism)."""
    from sith.load import load_clip
    from sith.load.clip import default_names

    return load_clip(*default_names(model_name, pretrained), device=device)


#: Open sessions, least recently used first: ``(model_name, pretrained, data_dir, device) -> Workspace``.
SESSIONS: OrderedDict[tuple[str, str, str, str], Workspace] = OrderedDict()
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
    ``conceptnet``; a model plugin's own pool and image-mean source, e.g. the built-in
    organism's, made from its world's images when missing). The model is loaded once per
    ``(model, tag, data dir, device)`` and reused by every later API call (its caches too);
    :func:`close` drops them. The returned view has this call's ``progress``."""
    from sith.load.clip import default_names

    key = (*default_names(model_name, pretrained), str(Path(data_dir)), str(device))
    ws = SESSIONS.get(key)
    if ws is None:
        ws = SESSIONS[key] = open_session(key[0], key[1], data_dir=data_dir, device=device)
        while len(SESSIONS) > MAX_SESSIONS:
            SESSIONS.popitem(last=False)
    SESSIONS.move_to_end(key)
    return ws.using(progress=progress)


def close() -> None:
    """Drop every open session (models, SVDs, encoded dictionaries): the next call loads again."""
    SESSIONS.clear()


def open_session(model_name: str, pretrained: str, *, data_dir: str | Path, device: str) -> Workspace:
    """A new session's workspace (its model's plugin, if any, gives its pool and image mean)."""
    return Workspace(load_model(model_name, pretrained, device), data_dir=data_dir, device=device)
