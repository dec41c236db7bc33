"""Compare two models of one architecture head by head (issue 11 item 5, the paper's Sec 6).

Public API::

    compare_weights(base_weights, tuned_weights, layers=None, rank=None) -> {layer: metrics}
    compare_models_by_name(base_model, base_pretrained, tuned_model, tuned_pretrained, ...) -> paths
    check_same_architecture(base_weights, tuned_weights)
"""

from sith.compare.metrics import HEAD_METRICS, delta_svd, energy_shares, layer_metrics, principal_angles
from sith.compare.run import check_same_architecture, compare_models_by_name, compare_weights

__all__ = [
    "HEAD_METRICS",
    "check_same_architecture",
    "compare_models_by_name",
    "compare_weights",
    "delta_svd",
    "energy_shares",
    "layer_metrics",
    "principal_angles",
]
