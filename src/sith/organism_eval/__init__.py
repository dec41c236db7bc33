"""The organism's evaluation harness: does SITH name what the organism's components do?

Sits above the organism's model source (:mod:`sith.organism`: world, captions, training,
zero-shot, loader, plugin) and below the shells that run it (``sith organism eval``,
:mod:`sith.experiments`). Nothing in the model source or the core imports it.

* :mod:`~sith.organism_eval.twins` — counterfactual twin pairs and the twin AUC statistic;
* :mod:`~sith.organism_eval.fair` — strength-matched random-direction nulls (other heads, same
  head) and the held-out single-value ceiling;
* :mod:`~sith.organism_eval.margin` — each head's share of a factor's direct zero-shot margin
  and the naming share of the leading heads;
* :mod:`~sith.organism_eval.twintest` — the twin test with every null and its verdicts;
  :mod:`~sith.organism_eval.report` its printout (the per-factor headline first);
* :mod:`~sith.organism_eval.grounded`, :mod:`~sith.organism_eval.nulls`,
  :mod:`~sith.organism_eval.faithfulness`, :mod:`~sith.organism_eval.validation` — the
  grounded AUC and faithfulness checks (``--grounded``, ``--faithfulness``);
* :mod:`~sith.organism_eval.evaluate` — what ``sith organism eval`` prints and writes.
"""
