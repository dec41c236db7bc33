"""Decompose stage (docs/method.md §4–5): solvers behind one interface, the per-layer pipeline,
the one configuration (declared as data), the results object, reverse search and reports.

Names are imported on first use (PEP 562), so the configuration's declarations
(:mod:`sith.decompose.config`) serve the CLI's flags without importing torch.
"""

from sith.lazy import lazy_getattr

#: Every exported name and the module that defines it.
LAZY = {
    "CONTENT_FIELDS": "sith.decompose.config",
    "OPTIONS": "sith.decompose.config",
    "POLARITY_MODES": "sith.decompose.config",
    "DecompositionConfig": "sith.decompose.config",
    "DecompositionRequest": "sith.decompose.config",
    "decompose_layer": "sith.decompose.layer",
    "default_layers": "sith.decompose.layer",
    "default_rank": "sith.decompose.layer",
    "LayerDecomposition": "sith.decompose.results",
    "ModelRef": "sith.decompose.results",
    "SearchHit": "sith.decompose.search",
    "rank_heads": "sith.decompose.search",
    "METHODS": "sith.decompose.methods",
    "SEED_METHODS": "sith.decompose.methods",
    "is_seed_method": "sith.decompose.methods",
    "parse_method": "sith.decompose.methods",
    "SparseCode": "sith.decompose.running",
    "solve": "sith.decompose.solvers",
}

__getattr__ = lazy_getattr("sith.decompose", LAZY, globals())

__all__ = sorted(LAZY)
