"""Evaluation metrics for the paper's experiments (issue 12).

Public API::

    zero_shot_weights(class_names, encode_text, *, templates=None) -> (C, e)   CLIP's 80 templates
    zero_shot_logits(image_emb, weights) -> (n, C);  zero_shot_predict(...);  accuracy(pred, labels)
    group_accuracy(pred, labels, groups, n_groups=None)
        -> GroupAccuracy(per_group, counts, worst, mean, overall)
    recall_at_k(sim, correct, ks=(1, 5, 10));  retrieval_recalls(text_emb, image_emb, ks)
    rank_auc(scores, positive);  best_threshold_accuracy(scores, positive) -> (acc, threshold)
    bootstrap_ci(statistic, n, *, n_boot=1000, level=0.95, seed=0, strata=None) -> Interval
"""

from sith.metrics.bootstrap import Interval, bootstrap_ci
from sith.metrics.groups import GroupAccuracy, group_accuracy
from sith.metrics.ranking import best_threshold_accuracy, rank_auc
from sith.metrics.retrieval import DEFAULT_KS, correct_ranks, recall_at_k, retrieval_recalls
from sith.metrics.zeroshot import (
    accuracy,
    default_templates,
    zero_shot_logits,
    zero_shot_predict,
    zero_shot_weights,
)

__all__ = [
    "DEFAULT_KS",
    "GroupAccuracy",
    "Interval",
    "accuracy",
    "best_threshold_accuracy",
    "bootstrap_ci",
    "correct_ranks",
    "default_templates",
    "group_accuracy",
    "rank_auc",
    "recall_at_k",
    "retrieval_recalls",
    "zero_shot_logits",
    "zero_shot_predict",
    "zero_shot_weights",
]
