"""The seed authors' pre-computed resources on Google Drive, and their downloaders (issue 26).

* ``sith download-model-data``: the Drive folder of one model (``SEED_MODEL_DATA``) is
  mirrored into ``DATA_DIR/models/{model}/{pretrained}/`` — ``image_mean.pt``,
  ``dictionaries/*.pt`` (the seed's encoded concept lists), ``decompositions/*.pt``
  (``{"scores", "indices"}`` made by the seed's ``scripts/decompose.py``);
* ``sith download-dictionary NAME`` (``--source seed``, the default): the authors' exact
  concept list (``SEED_DICTIONARIES``) into ``DATA_DIR/dictionaries/NAME.txt``, byte for
  byte; ``--source original`` (or a URL/file) derives the list from its public source
  (:func:`sith.encode.pools.download_dictionary`).

Every file gets an ``X.source.json`` provenance sidecar (:mod:`sith.resources.provenance`).
A file already downloaded from the same Drive file is kept; a file that exists but came
from elsewhere (e.g. ``sith image-mean``) is kept too unless ``force``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from sith import paths
from sith.errors import ConfigError, SithError
from sith.io import load_pt
from sith.resources.gdrive import download_file, list_folder
from sith.resources.provenance import ORIGINAL, SEED_DOWNLOAD, read_provenance, write_provenance

logger = logging.getLogger(__name__)

SEED_REPO = "frangente/SITH"
MADE_BY = f"the seed's code ({SEED_REPO})"


@dataclass(frozen=True)
class SeedModelData:
    """One model's Drive folder and the shapes needed to read its files (heads per layer)."""

    folder_id: str
    num_heads: int
    n_layers: int


#: ``(model, pretrained) → folder`` (the seed's ``scripts/download_model_data.py``).
SEED_MODEL_DATA: dict[tuple[str, str], SeedModelData] = {
    ("ViT-L-14", "laion2b_s32b_b82k"): SeedModelData("1zmNAyKwMW4UqXowePB4xIcdSCDgXT0aA", 16, 24),
    ("ViT-H-14", "laion2b_s32b_b79k"): SeedModelData("1eIM_lfh1C2KdPGvZpxIsX4zyVOGeVWKZ", 16, 32),
}

#: ``name → Drive file id`` of the authors' concept lists (``scripts/download_dictionary.py``).
SEED_DICTIONARIES: dict[str, str] = {
    "conceptnet": "1v364gM1r8I_AhFhQZBJvYLiIcPPC_CIJ",
    "efros": "1plIjcMxQEYc0GZ6BoT7NyvQVkdyiGVE-",
    "laion": "1KrVHzyepf3eCLBNKKD85anGNUYccakMa",
    "wordnet": "1mCspIEEh6NhtnjeLECmRv3oN2Nh7A1fI",
}

#: ``--source`` values besides a URL or a local file.
SOURCES = ("seed", "original")


def seed_model(model_name: str, pretrained: str) -> SeedModelData:
    """The registry entry, or a one-line error listing the models the seed published."""
    found = SEED_MODEL_DATA.get((model_name, pretrained))
    if found is None:
        choices = ", ".join(f"{m} {{name:pretrained}} {p}" for m, p in SEED_MODEL_DATA)
        raise ConfigError(
            "model_name",
            f"the seed published no data for {model_name} {pretrained}; choose one of: {choices}",
            value=model_name,
        )
    return found


def check_file(path: Path) -> None:
    """A downloaded file is what its name says: ``.pt`` a weights-only torch file, ``.txt``
    non-empty UTF-8 text; anything else non-empty."""
    if path.stat().st_size == 0:
        raise SithError(f"the download of {path.name} is empty; nothing was written, try again")
    name = path.name.removesuffix(".part").removesuffix(".download")
    if name.endswith(".pt"):
        try:
            load_pt(path, what="downloaded file")
        except SithError:
            raise SithError(
                f"the download of {name.lstrip('.')} is not a readable weights-only torch file "
                "(corrupt or not a tensor file); nothing was written, run the command again"
            ) from None
    elif name.endswith(".txt"):
        try:
            text = path.read_bytes().decode("utf-8")
        except UnicodeDecodeError:
            raise SithError(
                f"the download of {name.lstrip('.')} is not UTF-8 text; nothing was written"
            ) from None
        if not text.strip():
            raise SithError(f"the download of {name.lstrip('.')} is empty text; nothing was written")


def replace_stale_sidecar(dest: Path) -> None:
    """Drop ``X.json`` (sith's metadata of our own encoding) when the seed's file replaces ``X.pt``."""
    ours = dest.with_name(dest.stem + ".json")
    if dest.suffix == ".pt" and ours.is_file():
        ours.unlink()


def download_model_data(
    model_name: str = "ViT-L-14",
    pretrained: str = "laion2b_s32b_b82k",
    *,
    data_dir: str | Path = paths.DEFAULT_DATA_DIR,
    force: bool = False,
    retries: int = 3,
    progress: bool = True,
) -> list[Path]:
    """Mirror the seed's Drive folder of one model into ``DATA_DIR/models/{model}/{pretrained}/``.

    Returns:
        Every file of the folder, downloaded now or kept from an earlier run.

    Raises:
        SithError: unknown model, unreachable server, a folder without a file list, a
            download that fails its checks (one line; nothing half-written is left at the
            target, an interrupted download resumes on the next run).
    """
    entry = seed_model(model_name, pretrained)
    root = paths.model_dir(data_dir, model_name, pretrained)
    files = list_folder(entry.folder_id)
    if not files:
        raise SithError(f"Drive folder {entry.folder_id} is empty; check the seed's README for a new link")
    logger.info("%d files in the seed's folder for %s %s", len(files), model_name, pretrained)
    out = []
    for f in files:
        dest = root / f.path
        record = read_provenance(dest) if dest.exists() else None
        if dest.exists() and not force:
            if record is None or record.get("drive_file_id") != f.id:
                logger.warning("keeping %s: it exists and was not downloaded from this folder "
                               "(download again with force to replace it with the seed's)", dest)
            out.append(dest)
            continue
        path, sha = download_file(f.id, dest, check=check_file, retries=retries,
                                  progress=progress, label=f.path)
        replace_stale_sidecar(path)
        write_provenance(path, {
            "source": SEED_DOWNLOAD, "made_by": MADE_BY, "drive_folder_id": entry.folder_id,
            "drive_file_id": f.id, "drive_path": f.path, "model_name": model_name,
            "pretrained": pretrained, "num_heads": entry.num_heads,
        }, sha256=sha)
        logger.info("wrote %s", path)
        out.append(path)
    return out


def check_dictionary_name(name: str) -> None:
    if name not in SEED_DICTIONARIES:
        raise SithError(
            f"unknown dictionary {name!r}; available: {', '.join(sorted(SEED_DICTIONARIES))}"
        )


def download_seed_dictionary(
    name: str,
    *,
    data_dir: str | Path = paths.DEFAULT_DATA_DIR,
    retries: int = 3,
    progress: bool = True,
) -> Path:
    """The authors' exact list ``name`` into ``DATA_DIR/dictionaries/NAME.txt`` (as published)."""
    check_dictionary_name(name)
    file_id = SEED_DICTIONARIES[name]
    dest = paths.dictionary_text_path(data_dir, name)
    path, sha = download_file(file_id, dest, check=check_file, retries=retries,
                              progress=progress, label=dest.name)
    write_provenance(path, {"source": SEED_DOWNLOAD, "made_by": MADE_BY, "drive_file_id": file_id,
                            "dictionary": name}, sha256=sha)
    logger.info("wrote the seed's %s list to %s", name, path)
    warn_if_cleaning_changes(path)
    return path


def warn_if_cleaning_changes(path: Path) -> None:
    """Say when sith's pool cleaning (:func:`sith.encode.pool_formats.clean_concepts`) changes
    the authors' list: the seed's encoded dictionaries and decompositions index its raw lines
    (``sith show`` reads them so), while encoding, search and edit read the cleaned pool."""
    from sith.encode.pool_formats import clean_concepts

    lines = path.read_text(encoding="utf-8").splitlines()
    cleaned = clean_concepts(lines)
    if cleaned != lines:
        logger.warning(
            "%s has %d lines, %d after sith's cleaning (blank, comment, case or duplicate lines): "
            "the seed's encoded %s.pt has one row per raw line, so sith's search/edit (which read the "
            "cleaned pool) refuse it until re-encoded; `sith show` reads the raw lines",
            path.name, len(lines), len(cleaned), path.stem,
        )


def fetch_dictionary(
    name: str,
    *,
    source: str = "seed",
    data_dir: str | Path = paths.DEFAULT_DATA_DIR,
    progress: bool = True,
) -> Path:
    """``DATA_DIR/dictionaries/NAME.txt`` from ``source``: ``seed`` (the authors' list, default),
    ``original`` (derived from the public source), or a URL / local file of the original
    source's format. Records the source in ``NAME.source.json``."""
    from sith.encode.pools import POOLS, default_source, download_dictionary

    if source == "seed":
        return download_seed_dictionary(name, data_dir=data_dir, progress=progress)
    if name not in POOLS:
        check_dictionary_name(name)
    override = None if source == ORIGINAL else source
    path = download_dictionary(name, data_dir=data_dir, source=override, progress=progress)
    url = str(default_source(name) if override is None else override)
    write_provenance(path, {"source": ORIGINAL, "dictionary": name, "url": url})
    return path
