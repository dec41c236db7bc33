"""``sith ground`` output in the explorer: top images of both signs with their patch maps.

``sith ground`` writes, per image source, ``{model dir}/grounding/{source}/`` with
``summary.json`` and one ``layer-{l:02d}.pt`` (``sith-grounding/1``, :mod:`sith.ground.save`):
per layer, head, component and sign the top-``k`` image *names*, activations and
per-patch terms ``s_i · a_t · ⟨x̂_t, u_i⟩`` (docs/grounding.md §1). It does not store the
pictures, so this module gets them back from what it recorded:

* ``world:i`` (``sith ground --world N``, source ``world-N-seedS-VARIANT``): re-rendered
  exactly, chunk ``c = i // WORLD_CHUNK`` drawn with :func:`sith.organism.world.sample`
  and seed ``[S, c]``, as :mod:`sith.ground.sources` drew it (a pure function of the seed);
* a file path (folder or file-list sources): read from that path, relative paths from the
  current folder (where ``sith ground`` ran), centre-cropped to a square as CLIP's
  resize + centre-crop preprocessing does, so the patch map lies on what the model saw;
* ``shard.tar:key.ext`` (webdataset shards): the member ``key.ext`` of that tar.

An image that cannot be found (moved, deleted, a URL shard) is left out with one warning.

:func:`component_images` is the one adapter: a layer record → the explorer's grounding
entries ``{"L-H-I": [{img, sign, score, heat, label?}]}`` (with
``img`` an index into a shared table of ``data:`` URIs, so an image kept by many components
is stored once). At most ``MAX_IMAGES`` per sign; ``heat`` is the patch map of the terms
pushing the activation *towards that sign* (``max(±term, 0)``), quantised to 0–35 relative
to the image's largest (where in the image; ``score`` says how much) and written as one string of
``gh·gw`` base-36 digits, row-major (grids are square: ``sith ground`` refuses others).

A grounding is used only if it is of the same model (fingerprint), of fold-ln
decompositions (the only recipe ``sith ground`` has) and its singular values equal the
decompositions' (rtol 1e-3) — i.e. component ``i`` is the same direction in both files.
"""

from __future__ import annotations

import base64
import io
import logging
import re
import tarfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, features

from sith.decompose.results import LayerDecomposition, ModelRef
from sith.errors import SithError
from sith.explore.extras import MAX_IMAGES, THUMB_PX, read_json
from sith.ground.save import SUMMARY_FORMAT, load_grounding
from sith.ground.sources import WORLD_CHUNK
from sith.organism.world import FACTORS, SPURIOUS_CLASSES, sample

log = logging.getLogger(__name__)

WORLD_SOURCE = re.compile(r"^world-(\d+)-seed(\d+)-(\w+)$")
WORLD_NAME = re.compile(r"^world:(\d+)$")
SV_RTOL = 1e-3
HEAT_LEVELS = 35  # one base-36 digit a patch


def heat_string(levels: torch.Tensor) -> str:
    """``(P,)`` integers 0–35 → ``P`` base-36 digits, row-major over the square patch grid."""
    return "".join(np.base_repr(int(v), 36).lower() for v in levels.tolist())


def square(im: Image.Image) -> Image.Image:
    """The centred square crop (what CLIP's resize + centre-crop keeps)."""
    w, h = im.size
    s = min(w, h)
    left, top = (w - s) // 2, (h - s) // 2
    return im.crop((left, top, left + s, top + s))


def data_uri(im: Image.Image) -> str:
    """A small ``data:`` URI (side ≤ ``THUMB_PX``) of an RGB image: WebP (half JPEG's size on
    the noisy world images; every current browser shows it), JPEG if Pillow lacks WebP."""
    im = im.convert("RGB")
    if max(im.size) > THUMB_PX:
        im = im.resize((THUMB_PX, THUMB_PX), Image.Resampling.BILINEAR)
    fmt = "webp" if features.check("webp") else "jpeg"
    buf = io.BytesIO()
    im.save(buf, format=fmt.upper(), quality=70 if fmt == "webp" else 80)
    return f"data:image/{fmt};base64," + base64.b64encode(buf.getvalue()).decode("ascii")


class ImageFinder:
    """Image name → the square picture the model saw, for one grounding source (module doc)."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.world = WORLD_SOURCE.match(source)
        self.chunks: dict[int, np.ndarray] = {}
        self.tars: dict[str, tarfile.TarFile | None] = {}

    def __call__(self, name: str) -> Image.Image | None:
        m = WORLD_NAME.match(name)
        if m and self.world:
            return self.world_image(int(m.group(1)))
        if ".tar:" in name:
            return self.tar_image(*name.rsplit(".tar:", 1))
        try:
            with Image.open(Path(name).expanduser()) as im:
                return square(im.convert("RGB"))
        except OSError:
            return None

    def world_image(self, i: int) -> Image.Image | None:
        assert self.world is not None
        n, seed, variant = int(self.world.group(1)), int(self.world.group(2)), self.world.group(3)
        chunk, offset = divmod(i, WORLD_CHUNK)
        if i >= n:
            return None
        if chunk not in self.chunks:
            size = min(WORLD_CHUNK, n - chunk * WORLD_CHUNK)
            self.chunks[chunk] = sample(size, seed=[seed, chunk], variant=variant).images
        pixels = (self.chunks[chunk][offset].transpose(1, 2, 0) * 255).round().astype(np.uint8)
        return Image.fromarray(pixels)

    def tar_image(self, shard: str, member: str) -> Image.Image | None:
        path = shard + ".tar"
        if path not in self.tars:
            try:
                self.tars[path] = tarfile.open(path)
            except (OSError, tarfile.TarError):
                self.tars[path] = None
        tar = self.tars[path]
        try:
            fh = tar.extractfile(member) if tar is not None else None
            if fh is None:
                return None
            with Image.open(io.BytesIO(fh.read())) as im:
                return square(im.convert("RGB"))
        except (OSError, KeyError, tarfile.TarError):
            return None

    def close(self) -> None:
        for tar in self.tars.values():
            if tar is not None:
                tar.close()


class ImageTable:
    """Thumbnails stored once: ``(source, name)`` → index into :attr:`uris`."""

    def __init__(self) -> None:
        self.uris: list[str] = []
        self.ids: dict[tuple[str, str], int | None] = {}
        self.missing: list[str] = []

    def id(self, finder: ImageFinder, name: str) -> int | None:
        key = (finder.source, name)
        if key not in self.ids:
            im = finder(name)
            if im is None:
                self.missing.append(name)
                self.ids[key] = None
            else:
                self.ids[key] = len(self.uris)
                self.uris.append(data_uri(im))
        return self.ids[key]


def world_label(labels: dict[str, Any], i: int) -> str:
    """``"red circle on sand"`` (``"duck on water, skull"``) for world image ``i``."""
    shape = int(labels["shape"][i])
    what = FACTORS["shape"][shape] if shape >= 0 else SPURIOUS_CLASSES[int(labels["bird"][i])]
    color, background = (FACTORS[key][int(labels[key][i])] for key in ("color", "background"))
    text = f"{color} {what} on {background}"
    return text + (", skull" if "unsafe" in labels and int(labels["unsafe"][i]) else "")


def component_images(
    record: dict[str, Any], n_heads: int, rank: int, table: ImageTable, finder: ImageFinder
) -> dict[str, list[dict[str, Any]]]:
    """The explorer's grounding entries (module doc) of one ``sith-grounding/1`` layer record.

    Args:
        record: a layer file's dict: ``index``/``values`` ``(2, H, r, k)``, ``patches``
            ``(2, H, r, k, P)``, ``patch_grid``, ``images`` (names), optional ``labels``.
        n_heads, rank: how many heads and components the page shows.
    """
    layer, names = int(record["layer"]), record["images"]
    index, values = record["index"], record["values"].float()
    labels = record.get("labels") or {}
    H, r = min(n_heads, index.shape[1]), min(rank, index.shape[2])
    out: dict[str, list[dict[str, Any]]] = {}
    for h in range(H):
        for i in range(r):
            images = []
            for s, sign in enumerate((1, -1)):
                cols = [j for j in range(index.shape[3]) if int(index[s, h, i, j]) >= 0][:MAX_IMAGES]
                heat = (sign * record["patches"][s, h, i, cols].float()).clamp_min(0)
                top = heat.amax(dim=-1, keepdim=True).clamp_min(1e-12)
                heat = (heat * (HEAT_LEVELS / top)).round().to(torch.int64)
                for n, j in enumerate(cols):
                    gi = int(index[s, h, i, j])
                    img = table.id(finder, names[gi])
                    if img is None:
                        continue
                    entry = {
                        "img": img,
                        "sign": sign,
                        "score": round(float(values[s, h, i, j]), 4),
                        "heat": heat_string(heat[n]),
                    }
                    if labels and WORLD_NAME.match(names[gi]):
                        entry["label"] = world_label(labels, int(names[gi].split(":")[1]))
                    images.append(entry)
            if images:
                out[f"{layer}-{h}-{i}"] = images
    return out


def layer_files(directory: Path) -> list[Path]:
    """The layer files of a ``sith ground`` folder: those ``summary.json`` lists, else ``layer-*.pt``."""
    summary = directory / "summary.json"
    if summary.is_file():
        doc = read_json(summary, "grounding summary")
        if not isinstance(doc, dict) or doc.get("format") != SUMMARY_FORMAT:
            raise SithError(f"{summary} is not a sith ground summary ({SUMMARY_FORMAT}); rerun sith ground")
        return [directory / str(entry["file"]) for entry in doc.get("layers", [])]
    return sorted(directory.glob("layer-*.pt"))


def matches(record: dict[str, Any], dec: LayerDecomposition) -> bool:
    """Whether component ``i`` is the same SVD direction in both (equal singular values)."""
    a, b = record["singular_values"].float(), dec.singular_values.float()
    H, r = min(a.shape[0], b.shape[0]), min(a.shape[1], b.shape[1])
    return bool(torch.allclose(a[:H, :r], b[:H, :r], rtol=SV_RTOL, atol=1e-6))


def read_ground_dir(
    directory: Path,
    decs: dict[int, LayerDecomposition],
    model: ModelRef,
    table: ImageTable,
    *,
    strict: bool,
) -> dict[str, list[dict[str, Any]]]:
    """The grounding entries of one ``sith ground`` output folder for the page's layers.

    ``strict`` (a folder the user named): a grounding of another model is a SithError;
    otherwise (found in the model's folder) it is skipped with a warning.
    """
    out: dict[str, list[dict[str, Any]]] = {}
    for path in layer_files(directory):
        record = load_grounding(path)
        theirs = ModelRef.from_record(record["config"].get("model", {}))
        if theirs.fingerprint != model.fingerprint:
            problem = (
                f"{path} grounds another model ({theirs.model_name} {theirs.pretrained} "
                f"{theirs.fingerprint}, "
                f"these decompositions are {model.model_name} {model.pretrained} {model.fingerprint})"
            )
            if strict:
                raise SithError(problem + "; pass a grounding made for this model")
            log.warning("%s; left out", problem)
            continue
        dec = decs.get(int(record["layer"]))
        if dec is None:
            continue
        if not dec.config.fold_ln:
            log.warning(
                "%s grounds the fold-ln components; this layer's decomposition is --no-fold-ln; left out",
                path,
            )
            continue
        if not matches(record, dec):
            log.warning(
                "%s: singular values differ from the decomposition's (another model state?); left out", path
            )
            continue
        finder = ImageFinder(str(record["config"].get("source", "")))
        try:
            out.update(component_images(record, dec.num_heads, dec.rank, table, finder))
        finally:
            finder.close()
    return out


def is_ground_dir(path: Path) -> bool:
    return path.is_dir() and ((path / "summary.json").is_file() or any(path.glob("layer-*.pt")))


def load_groundings(
    given: str | Path | None,
    default_root: Path,
    decs: dict[int, LayerDecomposition],
    model: ModelRef,
) -> tuple[dict[str, list[dict[str, Any]]], list[str]]:
    """``(entries, image URIs)`` for the page from ``given`` or, if None, ``default_root``.

    ``given`` may be a ``sith ground`` folder (or its ``summary.json`` or a layer ``.pt``,
    meaning that folder) or a folder of such folders. Later folders (sorted by name) override
    earlier ones for the same component. Any other JSON file (e.g. the hand-made grounding
    JSON an older explorer guessed keys of) is left out with one warning (:func:`not_ground_output`).
    """
    table = ImageTable()
    root = Path(given) if given is not None else default_root
    if given is not None and not root.exists():
        raise SithError(
            f"grounding not found: {root}; pass a `sith ground` output folder"
        )
    if root.is_file() and (root.suffix == ".pt" or is_summary(root)):
        root = root.parent
    if root.is_file():
        not_ground_output(root)
        return {}, []
    dirs = [root] if is_ground_dir(root) else sorted(p for p in root.glob("*") if is_ground_dir(p))
    jsons = [] if is_ground_dir(root) else sorted(root.glob("*.json"))
    if given is not None and not dirs and not jsons:
        raise SithError(f"{root} holds no sith ground output (summary.json, layer-*.pt); run sith ground")
    for f in jsons:
        not_ground_output(f)
    entries: dict[str, list[dict[str, Any]]] = {}
    for d in dirs:
        entries.update(read_ground_dir(d, decs, model, table, strict=given is not None))
    if table.missing:
        log.warning(
            "%d grounding image(s) could not be read (e.g. %s); shown without them",
            len(table.missing),
            table.missing[0],
        )
    return entries, table.uris


def is_summary(path: Path) -> bool:
    """Whether ``path`` is a ``sith ground`` ``summary.json`` (by name, or by its format tag)."""
    if path.name == "summary.json":
        return True
    if path.suffix != ".json":
        return False
    doc = read_json(path, "grounding summary")
    return isinstance(doc, dict) and doc.get("format") == SUMMARY_FORMAT


def not_ground_output(path: Path) -> None:
    """One warning: ``path`` is not ``sith ground`` output, so the page leaves it out."""
    log.warning(
        "%s is not sith ground output (a folder with summary.json, format %s, and layer-*.pt); "
        "left out: run `sith ground` and pass its folder with --grounding",
        path,
        SUMMARY_FORMAT,
    )
