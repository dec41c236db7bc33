"""``sith explore``: one self-contained HTML page to browse every decomposed head.

:func:`build_explorer` reads a model's decomposition files (:mod:`sith.explore.gather`),
turns them into compact JSON (:mod:`sith.explore.data`), adds the optional edit log,
blur list, judge and compare results (:mod:`sith.explore.extras`, read by format tag;
``sith ground`` output through :mod:`sith.explore.grounded`: per component the top images
of both signs with their patch maps) and writes one
HTML file with inline CSS/JS (:mod:`sith.explore.page`, ``assets/``): an overview grid of
layers × heads coloured by theme, a head view (spectrum, components, concepts with
weight bars, tie flags), client-side search, edit highlighting, permalinks
(``#L22H3C5``) and keyboard navigation. It works offline from ``file://``.
"""

from sith.explore.gather import DecompositionSet, find_decompositions, head_theme
from sith.explore.page import build_explorer, render

__all__ = ["DecompositionSet", "build_explorer", "find_decompositions", "head_theme", "render"]
