"""The encode stage: concept pools, their text embeddings, the image mean (docs/method.md §3)."""

from sith.encode.atoms import ATOM_MODES, SEED_ATOM_MODE, concept_atom, dictionary_atoms
from sith.encode.images import compute_image_mean, iter_images, load_image_mean, save_image_mean
from sith.encode.pool_formats import clean_concepts
from sith.encode.pools import POOLS, Pool, PoolSource, download_dictionary, read_pool
from sith.encode.text import EncodedPool, encode_pool, load_encoded

__all__ = [
    "ATOM_MODES",
    "POOLS",
    "EncodedPool",
    "Pool",
    "PoolSource",
    "clean_concepts",
    "SEED_ATOM_MODE",
    "compute_image_mean",
    "concept_atom",
    "dictionary_atoms",
    "download_dictionary",
    "encode_pool",
    "iter_images",
    "load_encoded",
    "load_image_mean",
    "read_pool",
    "save_image_mean",
]
