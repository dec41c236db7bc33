"""Where every artifact lives under ``--data-dir`` (the seed's layout, docs/method.md §5).

::

    data/
    ├── dictionaries/NAME.txt
    ├── organisms/organism-{tag}.safetensors|.json   (sith organism export)
    └── models/{model}/{pretrained}/
        ├── image_mean.pt
        ├── dictionaries/NAME.pt
        ├── decompositions/layer-{l:02d}_{right|left}_{foldln|nofoldln}_{dict}_{method}_sparsity-{K}.pt
        ├── edits/
        └── experiments/NAME/                           (sith experiment NAME)
"""

from __future__ import annotations

import re
from pathlib import Path

DEFAULT_DATA_DIR = Path("data")


#: Suffixes of checkpoint files: ``m.safetensors`` and ``./dir/m.safetensors`` share one folder.
CHECKPOINT_SUFFIXES = (".pt", ".pth", ".bin", ".safetensors")


def slug(text: str) -> str:
    """A file-system-safe name: a path, or a checkpoint file name, becomes its file stem (the
    same cache folder however the file is named; a derived tag such as
    ``m.safetensors+untrained-vision-0`` keeps its whole name, so it never shares ``m``'s
    folder); odd characters become '-'."""
    text = str(text)
    if "/" in text or "\\" in text or Path(text).suffix.lower() in CHECKPOINT_SUFFIXES:
        p = Path(text)
        text = p.stem if p.suffix.lower() in CHECKPOINT_SUFFIXES else p.name
    text = re.sub(r"[^A-Za-z0-9._+-]+", "-", text).strip("-.")
    return text or "none"


def model_dir(data_dir: str | Path, model_name: str, pretrained: str) -> Path:
    """``data/models/{model}/{pretrained}``."""
    return Path(data_dir) / "models" / slug(model_name) / slug(pretrained or "none")


def dictionary_text_path(data_dir: str | Path, name: str) -> Path:
    """``data/dictionaries/NAME.txt``."""
    return Path(data_dir) / "dictionaries" / f"{slug(name)}.txt"


def encoded_dictionary_path(
    data_dir: str | Path, model_name: str, pretrained: str, name: str
) -> Path:
    """``data/models/{model}/{pretrained}/dictionaries/NAME.pt``."""
    return model_dir(data_dir, model_name, pretrained) / "dictionaries" / f"{slug(name)}.pt"


def image_mean_path(data_dir: str | Path, model_name: str, pretrained: str) -> Path:
    """``data/models/{model}/{pretrained}/image_mean.pt``."""
    return model_dir(data_dir, model_name, pretrained) / "image_mean.pt"


def decomposition_filename(
    layer: int,
    sv_type: str,
    fold_ln: bool,
    dictionary: str,
    method: str,
    sparsity: int,
    options: str = "",
) -> str:
    """The seed's name ``layer-{l:02d}_{left|right}_{foldln|nofoldln}_{dict}_{method}_sparsity-{K}.pt``
    (docs/method.md §6); a configuration with project options adds ``_sith-{options}`` before ``.pt``."""
    fold = "foldln" if fold_ln else "nofoldln"
    extra = f"_sith-{options}" if options else ""
    return f"layer-{layer:02d}_{sv_type}_{fold}_{slug(dictionary)}_{method}_sparsity-{sparsity}{extra}.pt"


def experiment_dir(data_dir: str | Path, model_name: str, pretrained: str, name: str) -> Path:
    """``data/models/{model}/{pretrained}/experiments/NAME`` (``sith experiment NAME``)."""
    return model_dir(data_dir, model_name, pretrained) / "experiments" / slug(name)


def decompositions_dir(data_dir: str | Path, model_name: str, pretrained: str) -> Path:
    """``data/models/{model}/{pretrained}/decompositions``."""
    return model_dir(data_dir, model_name, pretrained) / "decompositions"
