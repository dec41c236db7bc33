"""sith — data-free, weight-space interpretability of CLIP (see docs/method.md).

In a notebook::

    import sith
    ws = sith.open()                                   # the built-in organism (or sith.open(name, tag))
    print(ws.decomposition(layer=5).head(3))           # head 3's explanations
    model = ws.apply(ws.plan(sith.EditRequest(components=[(5, 3, 0)])))  # zeroed, in memory

``sith.open``, ``sith.EditRequest`` and ``sith.close`` come from :mod:`sith.api` (imported on
first use, so ``import sith`` stays light).
"""

from typing import Any

__version__ = "0.1.0"

#: The model plugins this package ships (:mod:`sith.plugins`), as its pyproject declares them
#: under ``[project.entry-points."sith.models"]``; read too, so that a source checkout whose
#: installed metadata predates the declaration still finds them.
BUILTIN_MODELS = ("sith.organism.plugin:ENTRY",)

#: Names served from :mod:`sith.api` on first use.
API_NAMES = ("open", "close", "EditRequest")


def __getattr__(name: str) -> Any:
    if name in API_NAMES:
        from sith import api

        return getattr(api, name)
    raise AttributeError(f"module 'sith' has no attribute {name!r}")
