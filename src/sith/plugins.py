"""Models that plug in from outside the core, as data: one :class:`ModelEntry` per model.

An entry says everything the core needs to know about a model it does not ship in its
stages: how to load it (``load``; ``default`` makes it what ``load_clip()`` loads without a
name), its packaged concept pools and default dictionary, where its image mean comes from
(``image_mean``, when it can be made without the user's images) and its labelled-image
generators (``image_sources``, e.g. ``--world N``).

Entries are found, not imported for their side effects: :func:`load` reads the entry points
of group ``sith.models`` (``[project.entry-points."sith.models"]`` in a package's
pyproject; each names a ``ModelEntry`` object, ``"package.module:ENTRY"``), plus this
package's own (:data:`sith.BUILTIN_MODELS`, the same declaration as sith's pyproject, so a
source checkout whose installed metadata predates it still finds them). Every registry that
serves a part of an entry asks :func:`model_entry` / :func:`model_entries`, which call
:func:`load` once, so no import order matters. :func:`register` adds an entry by hand (it is
kept over a discovered one of the same name); :func:`use` replaces discovery (tests, an
application that wants only its own models).

This module imports nothing but :mod:`sith.errors` at import time (the entries' modules are
imported by :func:`load`, and an entry's functions import their model library when called).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from importlib import import_module, metadata
from pathlib import Path
from typing import Any

import sith
from sith.errors import SithError

log = logging.getLogger(__name__)

#: The entry-point group models are declared under.
ENTRY_POINT_GROUP = "sith.models"


@dataclass(frozen=True)
class ModelEntry:
    """One pluggable model (module doc).

    Attributes:
        name: the model name it answers to (``load_clip(name)``).
        pretrained: its default tag (``load_clip(name)`` without one).
        load: ``(model_name, pretrained, device) -> LoadedClip``; ``pretrained`` as given to
            ``load_clip`` (None, ``""``, ``"none"``: see ``sith.load.registry.is_none_tag``).
        default: ``load_clip()`` without a name loads this model.
        order: loaders are asked smallest first (the built-in ones use 10 and up).
        pools: packaged concept pools, ``name -> () -> path of the text file``.
        default_pool: the dictionary a configuration without one uses for this model.
        pool_of: ``pretrained -> pool name or None``: a tag's own default dictionary (e.g. an
            organism trained on another world), else ``default_pool``.
        image_mean: ``clip -> (mean (e,), provenance dict)``, when the model's image mean can
            be made without the user's images (docs/method.md §4).
        image_sources: labelled-image generators by name (``sith.ground.LabelledImages``).
    """

    name: str
    pretrained: str
    load: Callable[[str, Any, Any], Any]
    default: bool = False
    order: int = 0
    pools: Mapping[str, Callable[[], Path]] = field(default_factory=dict)
    default_pool: str | None = None
    pool_of: Callable[[str], str | None] | None = None
    image_mean: Callable[[Any], tuple[Any, dict[str, Any]]] | None = None
    image_sources: Mapping[str, Any] = field(default_factory=dict)


_ENTRIES: dict[str, ModelEntry] = {}
_state = {"loaded": False}


def resolve(spec: str) -> ModelEntry:
    """The :class:`ModelEntry` named by ``"package.module:ATTRIBUTE"``."""
    module, _, attr = spec.partition(":")
    entry = getattr(import_module(module), attr or "ENTRY")
    if not isinstance(entry, ModelEntry):
        raise SithError(f"{spec} is a {type(entry).__name__}, not a sith.plugins.ModelEntry")
    return entry


def declared() -> list[str]:
    """The ``module:ATTRIBUTE`` of every declared entry: installed entry points of
    :data:`ENTRY_POINT_GROUP`, then this package's own not among them."""
    specs = [ep.value for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)]
    return specs + [s for s in sith.BUILTIN_MODELS if s not in specs]


def load() -> list[ModelEntry]:
    """Find every declared entry (once; module doc) and return all entries. A declared entry
    that cannot be imported is skipped with a warning naming it (the others still work)."""
    if not _state["loaded"]:
        _state["loaded"] = True
        for spec in declared():
            try:
                entry = resolve(spec)
            except Exception as exc:  # one broken plugin must not break sith
                log.warning("ignoring the model plugin %s: %s", spec, exc)
                continue
            _ENTRIES.setdefault(entry.name, entry)
    return list(_ENTRIES.values())


def register(entry: ModelEntry) -> ModelEntry:
    """Add (or replace) ``entry`` by hand; kept over a discovered entry of the same name."""
    _ENTRIES[entry.name] = entry
    return entry


def reset() -> None:
    """Forget every entry; the next use discovers them again."""
    _ENTRIES.clear()
    _state["loaded"] = False


def use(entries: Iterable[ModelEntry]) -> None:
    """Exactly these entries from now on (discovery is not run)."""
    _ENTRIES.clear()
    _ENTRIES.update({e.name: e for e in entries})
    _state["loaded"] = True


def model_entries() -> list[ModelEntry]:
    """Every entry (discovered on first use), smallest ``order`` first."""
    return sorted(load(), key=lambda e: (e.order, e.name))


def model_entry(model_name: str) -> ModelEntry | None:
    """The entry of ``model_name``, or None for a model no plugin declares."""
    load()
    return _ENTRIES.get(str(model_name))


def default_entry() -> ModelEntry | None:
    """The entry marked ``default`` (the first by ``order``), or None."""
    return next((e for e in model_entries() if e.default), None)
