"""Fine-grained classification sets from a local root (no download): Flowers102, DTD,
FGVC-Aircraft in torchvision's layouts, and any ImageFolder.

The files are parsed here, exactly as ``torchvision.datasets`` parses them (the tests check
labels and class names against torchvision on generated fixtures), because torchvision's
classes open every image through their loader and, for Flowers102, refuse any label file
whose md5 differs from the published one, which rules out small test fixtures.

Layouts (``root`` as passed to torchvision)::

    Flowers102   <root>/flowers-102/{jpg/image_00001.jpg, imagelabels.mat, setid.mat}
    DTD          <root>/dtd/dtd/{images/<class>/<file>.jpg, labels/{train,val,test}{1..10}.txt}
    FGVCAircraft <root>/fgvc-aircraft-2013b/data/{images/<id>.jpg, variants.txt,
                                                 images_variant_{train,val,trainval,test}.txt}
    ImageFolder  <root>/<class>/<image>

Class names: Flowers102 — the standard 102 names shipped in ``sith/datasets/data/
flowers102_classes.txt`` (written for this project; the same as torchvision's
``Flowers102.classes`` except that it drops the stray "?" of "pink-yellow dahlia?");
DTD — the texture folder names; FGVC-Aircraft — the lines of ``variants.txt``
(``families.txt``/``manufacturers.txt`` for the coarser levels); ImageFolder — the folder
names with ``_`` read as spaces. Reading Flowers102's ``.mat`` files needs scipy
(``pip install 'sith[datasets]'``).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from sith.datasets.common import ImageDataset, Sample, check_split, read_lines, require
from sith.errors import SithError

FLOWERS_LAYOUT = "<root>/flowers-102/{jpg/, imagelabels.mat, setid.mat}"
DTD_LAYOUT = "<root>/dtd/dtd/{images/, labels/<split><partition>.txt}"
FGVC_LAYOUT = "<root>/fgvc-aircraft-2013b/data/{images/, variants.txt, images_variant_<split>.txt}"
FLOWERS_SPLITS = {"train": "trnid", "val": "valid", "test": "tstid"}
FGVC_LEVELS = {"variant": "variants", "family": "families", "manufacturer": "manufacturers"}
DATASETS = ("flowers102", "dtd", "fgvc-aircraft", "imagefolder")


def flowers102_class_names() -> tuple[str, ...]:
    """The 102 Oxford Flowers names, index = label (0-based)."""
    text = resources.files("sith.datasets").joinpath("data/flowers102_classes.txt").read_text("utf-8")
    return tuple(line.strip() for line in text.splitlines() if line.strip())


def load_mat(path: Path, what: str) -> dict:
    try:
        from scipy.io import loadmat
    except ImportError:
        raise SithError("reading Flowers102 needs scipy; pip install 'sith[datasets]'") from None
    require(path, what, FLOWERS_LAYOUT)
    try:
        return loadmat(path, squeeze_me=True)
    except Exception as exc:  # noqa: BLE001 - any parse failure is a bad file
        raise SithError(f"cannot read {what} {path} ({type(exc).__name__}); re-download it") from None


def load_flowers102(root: str | Path, split: str = "test") -> ImageDataset:
    """Oxford Flowers 102; labels 0..101 (``imagelabels.mat`` minus 1), ids from ``setid.mat``."""
    check_split(split, tuple(FLOWERS_SPLITS), "Flowers102")
    base = Path(root) / "flowers-102"
    require(base / "jpg", "Flowers102 image folder", FLOWERS_LAYOUT)
    labels = load_mat(base / "imagelabels.mat", "Flowers102 labels")
    setid = load_mat(base / "setid.mat", "Flowers102 split ids")
    key = FLOWERS_SPLITS[split]
    if "labels" not in labels or key not in setid:
        raise SithError(f"Flowers102 .mat files lack 'labels' or '{key}'; expected {FLOWERS_LAYOUT}")
    all_labels = [int(x) - 1 for x in labels["labels"].ravel().tolist()]
    names = flowers102_class_names()
    samples = []
    for image_id in setid[key].ravel().tolist():
        image_id = int(image_id)
        if not 1 <= image_id <= len(all_labels) or not 0 <= all_labels[image_id - 1] < len(names):
            raise SithError(f"Flowers102 image id {image_id} has no valid label; re-download the .mat files")
        path = base / "jpg" / f"image_{image_id:05d}.jpg"
        samples.append(Sample(path, all_labels[image_id - 1], {"image_id": image_id}))
    return ImageDataset("flowers102", split, tuple(samples), names)


def load_dtd(root: str | Path, split: str = "test", partition: int = 1) -> ImageDataset:
    """Describable Textures; classes = sorted texture names found in the split file."""
    check_split(split, ("train", "val", "test"), "DTD")
    if not 1 <= int(partition) <= 10:
        raise SithError(f"DTD partition must be 1..10, got {partition}")
    data = Path(root) / "dtd" / "dtd"
    lines = read_lines(data / "labels" / f"{split}{int(partition)}.txt", "DTD split file", DTD_LAYOUT)
    pairs = []
    for line in lines:
        parts = line.split("/")
        if len(parts) != 2:
            raise SithError(f"DTD split file line {line!r} is not <class>/<file>; expected {DTD_LAYOUT}")
        pairs.append((parts[0], parts[1]))
    classes = sorted({c for c, _ in pairs})
    index = {c: i for i, c in enumerate(classes)}
    samples = tuple(Sample(data / "images" / c / f, index[c]) for c, f in pairs)
    return ImageDataset("dtd", split, samples, tuple(classes))


def load_fgvc_aircraft(
    root: str | Path, split: str = "test", annotation_level: str = "variant"
) -> ImageDataset:
    """FGVC-Aircraft 2013b; classes = lines of ``variants.txt`` (or families/manufacturers)."""
    check_split(split, ("train", "val", "trainval", "test"), "FGVC-Aircraft")
    if annotation_level not in FGVC_LEVELS:
        raise SithError(f"unknown annotation level {annotation_level!r}; use {', '.join(FGVC_LEVELS)}")
    data = Path(root) / "fgvc-aircraft-2013b" / "data"
    level = FGVC_LEVELS[annotation_level]
    classes = read_lines(data / f"{level}.txt", "FGVC-Aircraft class list", FGVC_LAYOUT)
    index = {c: i for i, c in enumerate(classes)}
    lines = read_lines(data / f"images_{annotation_level}_{split}.txt", "FGVC-Aircraft split", FGVC_LAYOUT)
    samples = []
    for line in lines:
        image_id, _, name = line.partition(" ")
        if name not in index:
            raise SithError(f"FGVC-Aircraft label {name!r} of image {image_id} is not in {level}.txt")
        samples.append(Sample(data / "images" / f"{image_id}.jpg", index[name], {"image_id": image_id}))
    return ImageDataset("fgvc-aircraft", split, tuple(samples), tuple(classes))


def load_imagefolder(root: str | Path, split: str = "all") -> ImageDataset:
    """Any ``<root>/<class>/<image>`` folder (torchvision ``ImageFolder``'s rules: sorted class
    folders, known image extensions); class names read ``_`` as a space."""
    from torchvision.datasets import ImageFolder

    root = Path(root)
    require(root, "image folder", "<root>/<class>/<image>")
    try:
        folder = ImageFolder(str(root), loader=str)
    except (FileNotFoundError, RuntimeError) as exc:
        first = str(exc).splitlines()[0][:120]
        raise SithError(f"{root} is not an image folder ({first}); expected <root>/<class>/<image>") from None
    samples = tuple(Sample(Path(p), int(y)) for p, y in folder.samples)
    names = tuple(c.replace("_", " ") for c in folder.classes)
    return ImageDataset(f"imagefolder:{root.name}", split, samples, names)


def load_classification(name: str, root: str | Path, split: str = "test") -> ImageDataset:
    """One of :data:`DATASETS` by name."""
    loaders = {
        "flowers102": load_flowers102,
        "dtd": load_dtd,
        "fgvc-aircraft": load_fgvc_aircraft,
        "imagefolder": load_imagefolder,
    }
    if name not in loaders:
        raise SithError(f"unknown dataset {name!r}; use one of {', '.join(DATASETS)}")
    return loaders[name](root, split)
