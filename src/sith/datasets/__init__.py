"""Dataset loaders for the paper's experiments, reading the published layouts unchanged.

Public API::

    ImageDataset(name, split, samples, class_names, group_names)   .labels() .groups() .images()
    Sample(path, label, fields);  load_image(path);  iter_images(samples, skip_unreadable=False)
    load_waterbirds(root, split="test")             groups (y, place), group = 2·y + place
    load_visu(root, split="test") -> VisuDataset    .pairs, .safe_images(), .unsafe_images(), captions
    load_flowers102 / load_dtd / load_fgvc_aircraft / load_imagefolder(root, split)
    load_classification(name, root, split)          name in DATASETS
    flowers102_class_names()

Fixture writers for each layout: :mod:`sith.datasets.fixtures`.
"""

from sith.datasets.classification import (
    DATASETS,
    flowers102_class_names,
    load_classification,
    load_dtd,
    load_fgvc_aircraft,
    load_flowers102,
    load_imagefolder,
)
from sith.datasets.common import ImageDataset, Sample, iter_images, load_image
from sith.datasets.visu import VisuDataset, VisuPair, load_visu
from sith.datasets.waterbirds import load_waterbirds

__all__ = [
    "DATASETS",
    "ImageDataset",
    "Sample",
    "VisuDataset",
    "VisuPair",
    "flowers102_class_names",
    "iter_images",
    "load_classification",
    "load_dtd",
    "load_fgvc_aircraft",
    "load_flowers102",
    "load_image",
    "load_imagefolder",
    "load_visu",
    "load_waterbirds",
]
