"""Decompose stage (docs/method.md §4–5): solvers behind one interface, the per-layer pipeline,
the one configuration object, the results object, reverse search and reports."""

from sith.decompose.config import CONTENT_FIELDS, POLARITY_MODES, DecompositionConfig
from sith.decompose.layer import decompose_layer, default_layers, default_rank
from sith.decompose.results import LayerDecomposition, ModelRef
from sith.decompose.search import SearchHit, rank_heads
from sith.decompose.solvers import METHODS, SEED_METHODS, SparseCode, is_seed_method, parse_method, solve

__all__ = [
    "CONTENT_FIELDS",
    "DecompositionConfig",
    "ModelRef",
    "METHODS",
    "SEED_METHODS",
    "LayerDecomposition",
    "POLARITY_MODES",
    "SearchHit",
    "SparseCode",
    "decompose_layer",
    "default_layers",
    "default_rank",
    "is_seed_method",
    "parse_method",
    "rank_heads",
    "solve",
]
