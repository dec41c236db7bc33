"""The paper's experiments as functions (issue 12; docs/experiments.md).

Each takes a :class:`sith.pipeline.Workspace`, :class:`Options` and an output directory,
writes ``{name}.json/.csv/.md/.png`` there (atomically) and returns the JSON payload::

    fidelity.run(ws, opts, out_dir, judge=None, methods=..., ks=...)   Sec. 4.1
    spurious.run(ws, opts, out_dir, judge=None)                        Sec. 5.1
    nsfw.run(ws, opts, out_dir, judge=None)                            Sec. 5.2
    classification.run(ws, opts, out_dir)                              Sec. 5.3
    edits.run(ws, opts, out_dir, requests=...)                          sith edit's default, with controls

Shared pieces: :mod:`~sith.experiments.setup` (analysis, judging), :mod:`~sith.experiments.controls`
(conditions and controls), :mod:`~sith.experiments.runner` (measure, compare, write),
:mod:`~sith.experiments.results` (files), :mod:`~sith.experiments.data` (benchmarks, embedding cache).
"""

from sith.experiments import classification, edits, fidelity, nsfw, spurious
from sith.experiments.setup import Options, Task

EXPERIMENTS = {
    "fidelity": fidelity,
    "spurious": spurious,
    "nsfw": nsfw,
    "classification": classification,
    "edit": edits,
}

__all__ = ["EXPERIMENTS", "Options", "Task", "classification", "edits", "fidelity", "nsfw", "spurious"]
