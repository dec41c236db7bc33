"""sith — data-free, weight-space interpretability of CLIP (see docs/method.md)."""

__version__ = "0.1.0"

#: The model plugins this package ships (:mod:`sith.plugins`), as its pyproject declares them
#: under ``[project.entry-points."sith.models"]``; read too, so that a source checkout whose
#: installed metadata predates the declaration still finds them.
BUILTIN_MODELS = ("sith.organism.plugin:ENTRY",)
