"""Decompose stage (METHOD.md §4–5): solvers behind one interface, the per-layer pipeline,
the results object, reverse search and reports."""

from sith.decompose.pipeline import decompose, decompose_layer
from sith.decompose.results import LayerDecomposition
from sith.decompose.search import SearchHit, rank_heads
from sith.decompose.solvers import METHODS, SparseCode, parse_method, solve

__all__ = [
    "METHODS",
    "LayerDecomposition",
    "SearchHit",
    "SparseCode",
    "decompose",
    "decompose_layer",
    "parse_method",
    "rank_heads",
    "solve",
]
