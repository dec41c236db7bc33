"""The orchestration layer above the five stages: one :class:`Workspace` that the CLI, the
API and the experiments call, driven by the one configuration object
(:class:`sith.decompose.DecompositionConfig`, re-exported here)."""

from sith.decompose.config import CONTENT_FIELDS, DecompositionConfig
from sith.pipeline.workspace import SEED_DICTIONARY, Workspace, model_default_dictionary, tensor_hash

__all__ = [
    "CONTENT_FIELDS",
    "SEED_DICTIONARY",
    "DecompositionConfig",
    "Workspace",
    "model_default_dictionary",
    "tensor_hash",
]
