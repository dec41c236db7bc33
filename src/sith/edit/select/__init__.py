"""Choose components by concept: one selection family for ``sith edit``, the API, the experiments
and the explorer (docs/method.md §6; docs/judges.md).

* **judged** (default): judge every component's explanation for the request and keep those
  judged ``≥ 3`` (:mod:`~sith.edit.select.judged`); the request is first matched to dictionary
  concepts by words and by meaning (:mod:`~sith.edit.select.matching`);
* **alignment** / **weight** — rules that do not read the judge (:mod:`~sith.edit.select.rules`),
  named options and controls;
* controls — random components with the same per-layer counts, the top of another ranking
  (:mod:`~sith.edit.select.controls`).

Public API::

    Task(name, question, concepts);  Judged(scores, relevance)
    judge_explanations(judge, explanations, task) -> Judged;  judge_kind(judge);  judge_record(judge)
    negated_explanations(weights, decompositions, atoms, concepts, image_mean=) -> explanations of -v
    judge_signs(judge, plus, minus, task, threshold) -> (Judged, matched signs);  check_signs(signs)
    zero_rule(threshold=3, alpha=0.0);  nsfw_rule(scores);  relevance_alphas(R)
    edits_from_rule(components, alphas, reason, judged=None) -> tuple[ComponentEdit, ...]
    match_concept(query, concepts, atoms, make_atoms) -> ConceptMatch
    familiarity(query, statistic, make_atoms) -> Familiarity
    select_by_alignment(...);  select_by_weight(...);  concept_indices(names, concepts)
    cap_per_layer(edits, max_per_layer)   the one per-layer cap of every rule
    random_draws(components, chosen, draws=, seed=);  top_ranked(components, key, chosen, reason)
"""

from sith.edit.judges.registry import judge_kind, judge_record
from sith.edit.select.controls import random_draws, top_ranked
from sith.edit.select.judged import (
    DEFAULT_SIGNS,
    MIN_SCORE_SELECTED,
    SIGN_MODES,
    Component,
    Judged,
    Rule,
    Task,
    check_signs,
    edits_from_rule,
    judge_explanations,
    judge_signs,
    negated_explanations,
    nsfw_rule,
    relevance_alphas,
    zero_rule,
)
from sith.edit.select.matching import (
    NULL_QUANTILE,
    ConceptMatch,
    Familiarity,
    familiarity,
    match_concept,
    random_strings,
)
from sith.edit.select.rules import (
    ALIGNMENT_THRESHOLD,
    WEIGHT_THRESHOLD,
    cap_per_layer,
    concept_indices,
    select_by_alignment,
    select_by_weight,
)

#: ``sith edit --rule`` choices; the first is the default.
RULES = ("judged", "alignment", "weight")

__all__ = [
    "ALIGNMENT_THRESHOLD",
    "DEFAULT_SIGNS",
    "MIN_SCORE_SELECTED",
    "NULL_QUANTILE",
    "RULES",
    "SIGN_MODES",
    "Component",
    "ConceptMatch",
    "Familiarity",
    "Judged",
    "Rule",
    "Task",
    "check_signs",
    "WEIGHT_THRESHOLD",
    "cap_per_layer",
    "concept_indices",
    "edits_from_rule",
    "familiarity",
    "judge_explanations",
    "judge_kind",
    "judge_record",
    "judge_signs",
    "match_concept",
    "negated_explanations",
    "nsfw_rule",
    "random_draws",
    "random_strings",
    "relevance_alphas",
    "select_by_alignment",
    "select_by_weight",
    "top_ranked",
    "zero_rule",
]
