"""Benchmark data for the experiments: dataset names, image embeddings with a disk cache.

Image embeddings are cached per (model fingerprint, dataset, split, file list) in
``DATA_DIR/models/{model}/{pretrained}/embeddings/`` (``.pt``, written atomically): an edited
model has another fingerprint, so it never reads the original's embeddings.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from tqdm.auto import tqdm

from sith import paths
from sith.datasets import ImageDataset, Sample, iter_images, load_classification
from sith.errors import SithError
from sith.io import load_pt, save_pt

#: ``--dataset`` values; ``organism`` builds the task from the organism's world.
#: The cache file's format tag; caches written before it (same keys, no tag) are read as it.
EMBEDDINGS_FORMAT = "sith-image-embeddings/1"
DATASETS = ("organism", "waterbirds", "visu", "flowers102", "dtd", "fgvc_aircraft", "imagefolder")
CLASSIFICATION = {
    "flowers102": "flowers102",
    "dtd": "dtd",
    "fgvc_aircraft": "fgvc-aircraft",
    "imagefolder": "imagefolder",
}


def check_dataset(name: str, allowed: Sequence[str], experiment: str, root: Path | None) -> str:
    """``name`` if this experiment accepts it (and ``--root`` is given for a real dataset)."""
    if name not in allowed:
        raise SithError(f"sith experiment {experiment} takes --dataset {' | '.join(allowed)}, got {name!r}")
    if name != "organism" and root is None:
        raise SithError(f"--dataset {name} needs --root DIR (the folder holding the dataset)")
    return name


def classification_set(name: str, root: Path, split: str) -> ImageDataset:
    """A Flowers102 / DTD / FGVC-Aircraft / ImageFolder split (``sith.datasets``)."""
    return load_classification(CLASSIFICATION[name], root, split)


def samples_key(samples: Sequence[Sample]) -> str:
    """16 hex digits identifying a file list (paths in order)."""
    h = hashlib.sha256("\n".join(str(s.path) for s in samples).encode("utf-8"))
    return h.hexdigest()[:16]


def embeddings_path(data_dir: Path, clip: Any, dataset: str, split: str, samples: Sequence[Sample]) -> Path:
    info = clip.info
    name = f"{paths.slug(dataset)}_{split}_{info.fingerprint[:16]}_{samples_key(samples)}.pt"
    return paths.model_dir(data_dir, info.model_name, info.pretrained) / "embeddings" / name


def is_embedding_cache(stored: Any) -> bool:
    """Whether ``stored`` is an embedding cache: tagged :data:`EMBEDDINGS_FORMAT`, or untagged
    with its keys (written before the tag). Anything else is recomputed and overwritten."""
    if not isinstance(stored, dict) or stored.get("format", EMBEDDINGS_FORMAT) != EMBEDDINGS_FORMAT:
        return False
    return isinstance(stored.get("embeddings"), Tensor) and isinstance(stored.get("n"), int)


def image_embeddings(
    clip: Any,
    samples: Sequence[Sample],
    *,
    dataset: str,
    split: str,
    data_dir: Path,
    batch_size: int = 64,
    progress: bool = True,
    cache: bool = True,
) -> Tensor:
    """``(n, e)`` image embeddings (unnormalised) of ``samples``, in order; cached on disk.

    An unreadable image is a one-line :class:`SithError` (nothing is cached then)."""
    if batch_size < 1:
        raise SithError(f"--batch-size must be ≥ 1, got {batch_size}")
    path = embeddings_path(data_dir, clip, dataset, split, samples)
    if cache and path.exists():
        stored = load_pt(path, what="embedding cache")
        if is_embedding_cache(stored) and stored["n"] == len(samples):
            return stored["embeddings"]
    out, batch = [], []
    bar = tqdm(total=len(samples), desc=f"embed {dataset}/{split}", unit="image", disable=not progress)
    for image, _ in iter_images(samples):
        batch.append(clip.preprocess(image))
        if len(batch) == batch_size:
            out.append(clip.encode_images(torch.stack(batch)).float().cpu())
            bar.update(len(batch))
            batch = []
    if batch:
        out.append(clip.encode_images(torch.stack(batch)).float().cpu())
        bar.update(len(batch))
    bar.close()
    emb = torch.cat(out)
    if cache:
        save_pt(
            {
                "format": EMBEDDINGS_FORMAT,
                "embeddings": emb,
                "n": len(samples),
                "fingerprint": clip.info.fingerprint,
                "dataset": dataset,
                "split": split,
            },
            path,
        )
    return emb
