"""The encode stage: concept pools, their text embeddings, the image mean (docs/method.md §3).

The image and text-encoding names (``compute_image_mean``, ``iter_images``,
``load_image_mean``, ``save_image_mean``, ``EncodedPool``, ``encode_pool``,
``load_encoded``) are imported on first use (PEP 562): they need webdataset, which a
command that never reads images (``sith show``) should not import; so are the pools' and
atoms' (torch), so that the plain names (``ATOM_MODES``) serve the CLI's flags without torch.
"""

from sith.encode.modes import ATOM_MODES, SEED_ATOM_MODE
from sith.encode.pool_formats import clean_concepts
from sith.lazy import lazy_getattr

#: Names imported on first use, and the module that defines each.
LAZY = {
    "concept_atom": "sith.encode.atoms",
    "dictionary_atoms": "sith.encode.atoms",
    "POOLS": "sith.encode.pools",
    "Pool": "sith.encode.pools",
    "PoolSource": "sith.encode.pools",
    "download_dictionary": "sith.encode.pools",
    "read_pool": "sith.encode.pools",
    "compute_image_mean": "sith.encode.images",
    "iter_images": "sith.encode.images",
    "load_image_mean": "sith.encode.images",
    "save_image_mean": "sith.encode.images",
    "EncodedPool": "sith.encode.text",
    "encode_pool": "sith.encode.text",
    "load_encoded": "sith.encode.text",
}


__getattr__ = lazy_getattr("sith.encode", LAZY, globals())


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
