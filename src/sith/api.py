"""The Python API behind every ``sith`` command (the CLI only parses flags and calls these).

Example::

    import sith.api as sith
    paths = sith.decompose(layers=[4, 5], method="comp-0.3", sparsity=5)  # built-in organism
    print(sith.show(paths[-1], heads=[0]))
    for hit in sith.search("water")[:5]:
        print(hit)
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from sith.decompose.pipeline import (
    DEFAULT_ATOMS_MODE,
    decompose,
    decompose_model,
    default_dictionary,
    layer_file,
    prepare_dictionary,
    prepare_image_mean,
)
from sith.decompose.report import explanation_rows, format_table, to_csv, to_json
from sith.decompose.results import LayerDecomposition
from sith.decompose.search import SearchHit, rank_heads
from sith.errors import SithError
from sith.paths import DEFAULT_DATA_DIR

__all__ = [
    "decompose",
    "download_dictionary",
    "encode_dictionary",
    "format_hits",
    "image_mean",
    "search",
    "show",
    "verify",
]


def _load(model_name: str | None, pretrained: str | None, device: str = "cpu"):  # noqa: ANN202
    from sith.load import load_clip
    from sith.load.clip import default_names

    return load_clip(*default_names(model_name, pretrained), device=device)


def show(
    file: str | Path,
    *,
    layer: int | None = None,
    heads: list[int] | None = None,
    fmt: str = "table",
) -> str:
    """A decomposition file as a text table, JSON or CSV (``fmt`` = table | json | csv).

    ``layer`` filters (a file holds one layer: a different layer gives an empty result
    with a message); ``heads`` keeps only those heads.
    """
    result = LayerDecomposition.load(file)
    if layer is not None and layer != int(result.config["layer"]):
        raise SithError(
            f"{file} holds layer {result.config['layer']}, not {layer}; drop --layer or pick its file"
        )
    if heads is not None:
        bad = [h for h in heads if not 0 <= h < result.num_heads]
        if bad:
            raise SithError(f"head {bad[0]} is out of range: this layer has heads 0..{result.num_heads - 1}")
    rows = explanation_rows(result, heads=heads)
    if fmt == "json":
        return to_json(rows)
    if fmt == "csv":
        return to_csv(rows)
    c = result.config
    head = (
        f"# {c['model']['model_name']} {c['model']['pretrained']} | layer {c['layer']} {c['sv_type']} "
        f"{'foldln' if c['fold_ln'] else 'nofoldln'} | {c['dictionary']} | {c['method']} K={c['sparsity']}"
    )
    return head + "\n" + format_table(rows)


def concept_atom(clip, text: str, encoded, *, mode: str, image_mean: Tensor | None = None) -> Tensor:  # noqa: ANN001
    """The atom ``(e,)`` of an arbitrary concept, made exactly like the dictionary's atoms
    (same template, same mean-text shift; METHOD.md §3)."""
    from sith.encode.text import apply_template

    T = F.normalize(encoded.embeddings.float(), dim=-1)
    with torch.no_grad():
        emb = clip.encode_text(apply_template([text], encoded.template)).float().cpu()
    e = F.normalize(emb[0], dim=-1)
    if mode == "raw":
        return e
    shifted = e - T.mean(0)
    if mode == "image-cone":
        shifted = shifted + image_mean.float().reshape(-1)
    return F.normalize(shifted, dim=-1)


def search(
    concept: str,
    model_name: str | None = None,
    pretrained: str | None = None,
    *,
    dictionary: str | None = None,
    layers: list[int] | None = None,
    top: int = 20,
    fold_ln: bool = True,
    sv_type: str = "right",
    data_dir: str | Path = DEFAULT_DATA_DIR,
    device: str = "cpu",
    atoms_mode: str | None = None,
    progress: bool = True,
) -> list[SearchHit]:
    """Data-free reverse lookup: the singular vectors (any layer, head, index, either
    polarity) most aligned with ``concept`` in the joint space, best first.

    The concept is encoded with the model's text tower and shifted like the
    dictionary's atoms (the dictionary supplies the mean text embedding).
    """
    if not concept.strip():
        raise SithError("the concept is empty; pass a word or phrase")
    if top < 1:
        raise SithError(f"--top must be >= 1, got {top}")
    clip = _load(model_name, pretrained, device)
    encoded = prepare_dictionary(
        clip, default_dictionary(clip.info.model_name, dictionary), data_dir=data_dir, progress=progress
    )
    mode = atoms_mode or DEFAULT_ATOMS_MODE
    mean = prepare_image_mean(clip, data_dir=data_dir) if mode == "image-cone" else None
    atom = concept_atom(clip, concept, encoded, mode=mode, image_mean=mean)
    return rank_heads(clip.weights, atom, top=top, layers=layers, fold_ln=fold_ln, sv_type=sv_type)


def format_hits(hits: list[SearchHit]) -> str:
    lines = [f"{'rank':>4} {'layer':>5} {'head':>4} {'idx':>4} {'pol':>3} {'|cos|':>6} {'sigma':>9}"]
    for n, h in enumerate(hits, 1):
        pol = "+" if h.polarity > 0 else "-"
        lines.append(
            f"{n:>4} {h.layer:>5} {h.head:>4} {h.index:>4} {pol:>3} {h.cosine:>6.3f} {h.singular_value:>9.4f}"
        )
    return "\n".join(lines)


def verify(
    model_name: str | None = None, pretrained: str | None = None, *, device: str = "cpu"
) -> list[float]:
    """Max abs error per layer between each head's output rebuilt from the extracted
    weights and the model's real attention forward pass (hooks, removed afterwards)."""
    from sith.load import verify as verify_clip

    return verify_clip(_load(model_name, pretrained, device))


def download_dictionary(
    name: str, *, data_dir: str | Path = DEFAULT_DATA_DIR, source: str | None = None
) -> Path:
    """Write ``data/dictionaries/NAME.txt`` from the pool's public source (or ``source``)."""
    from sith.encode import download_dictionary as _download

    return _download(name, data_dir=data_dir, source=source)


def encode_dictionary(
    model_name: str | None = None,
    pretrained: str | None = None,
    *,
    dictionary: str | None = None,
    data_dir: str | Path = DEFAULT_DATA_DIR,
    device: str = "cpu",
    batch_size: int = 256,
    template: str | None = None,
    progress: bool = True,
) -> Path:
    """Encode a concept pool with the model's own text tower (cached, resumable);
    returns the path of ``data/models/{model}/{pretrained}/dictionaries/NAME.pt``."""
    from sith.encode import POOLS, encode_pool, read_pool
    from sith.paths import dictionary_text_path, encoded_dictionary_path

    if batch_size < 1:
        raise SithError(f"--batch-size must be >= 1, got {batch_size}")
    clip = _load(model_name, pretrained, device)
    name = default_dictionary(clip.info.model_name, dictionary)
    if name in POOLS and not dictionary_text_path(data_dir, name).exists():
        download_dictionary(name, data_dir=data_dir)
    pool = read_pool(name, data_dir=data_dir)
    encode_pool(clip, pool, data_dir=data_dir, batch_size=batch_size, template=template, progress=progress)
    return encoded_dictionary_path(data_dir, clip.info.model_name, clip.info.pretrained, pool.name)


def image_mean(
    model_name: str | None = None,
    pretrained: str | None = None,
    *,
    images: str | Path,
    data_dir: str | Path = DEFAULT_DATA_DIR,
    device: str = "cpu",
    batch_size: int = 64,
    skip_bad: bool = False,
    progress: bool = True,
) -> Path:
    """Mean unit image embedding over an image folder or ``.tar`` shards → ``image_mean.pt``."""
    from sith.encode import compute_image_mean
    from sith.paths import image_mean_path

    clip = _load(model_name, pretrained, device)
    compute_image_mean(
        clip, images, data_dir=data_dir, batch_size=batch_size, progress=progress, skip_bad=skip_bad
    )
    return image_mean_path(data_dir, clip.info.model_name, clip.info.pretrained)


def _decompositions(
    clip,
    *,
    layers: list[int] | None,
    dictionary: str,
    method: str,
    sparsity: int,
    sv_type: str,  # noqa: ANN001
    fold_ln: bool,
    data_dir: str | Path,
    device: str,
    progress: bool,
) -> tuple[list[LayerDecomposition], object]:
    """Existing decomposition files for these settings, computing the missing ones."""
    from sith.decompose.pipeline import default_layers
    from sith.factor import check_layer

    encoded = prepare_dictionary(clip, dictionary, data_dir=data_dir, progress=progress)
    layers = (
        [check_layer(clip.weights, i) for i in layers] if layers else default_layers(clip.weights.n_layers)
    )
    where = dict(data_dir=data_dir, sv_type=sv_type, fold_ln=fold_ln, method=method, sparsity=sparsity)
    paths = {layer: layer_file(clip, encoded, layer, **where) for layer in layers}
    missing = [layer for layer, path in paths.items() if not path.exists()]
    if missing:  # the same model and encoded dictionary: nothing is loaded or encoded again
        decompose_model(clip, encoded, layers=missing, device=device, **where)
    found = [
        LayerDecomposition.load(
            path, expect_fingerprint=clip.info.fingerprint, expect_dictionary_hash=encoded.pool_hash
        )
        for path in paths.values()
    ]
    return found, encoded


def edit(
    model_name: str | None = None,
    pretrained: str | None = None,
    *,
    components: list[tuple[int, int, int, float]] | None = None,
    suppress: list[str] | None = None,
    amplify: list[str] | None = None,
    suppress_alpha: float = 0.0,
    amplify_alpha: float = 2.0,
    fold_ln: bool = True,
    dictionary: str | None = None,
    layers: list[int] | None = None,
    method: str = "comp-0.3",
    sparsity: int = 5,
    sv_type: str = "right",
    rule: str = "alignment",
    threshold: float | None = None,
    max_per_layer: int | None = None,
    output: str | Path | None = None,
    dry_run: bool = False,
    data_dir: str | Path = DEFAULT_DATA_DIR,
    device: str = "cpu",
    progress: bool = True,
):  # noqa: ANN201
    """Scale singular components (METHOD.md §6) and save the edited model + edit log.

    ``components`` are ``(layer, head, index, alpha)``; ``suppress``/``amplify`` name
    dictionary concepts, selected by ``rule`` (see :mod:`sith.edit.select`) in the
    decompositions of ``layers`` (computed if missing). With ``dry_run`` nothing is
    written. Returns ``(plan, checkpoint_path | None, log_path | None)``.
    """
    from sith.edit import ComponentEdit, apply_plan, plan_edits
    from sith.edit.run import default_output
    from sith.encode import concept_atoms

    clip = _load(model_name, pretrained, device)
    decs: list[LayerDecomposition] = []
    concepts = atoms = None
    if suppress or amplify:
        decs, encoded = _decompositions(
            clip,
            layers=layers,
            dictionary=default_dictionary(clip.info.model_name, dictionary),
            method=method,
            sparsity=sparsity,
            sv_type=sv_type,
            fold_ln=fold_ln,
            data_dir=data_dir,
            device=device,
            progress=progress,
        )
        concepts = encoded.concepts
        if rule == "alignment":
            atoms = concept_atoms(encoded, mode=DEFAULT_ATOMS_MODE)
    plan = plan_edits(
        clip,
        components=[
            ComponentEdit(*c[:3], c[3] if len(c) > 3 else suppress_alpha, "by index")
            for c in components or []
        ],
        suppress=suppress,
        amplify=amplify,
        suppress_alpha=suppress_alpha,
        amplify_alpha=amplify_alpha,
        fold_ln=fold_ln,
        decompositions=decs,
        concepts=concepts,
        atoms=atoms,
        rule=rule,
        threshold=threshold,
        max_per_layer=max_per_layer,
    )
    if dry_run:
        return plan, None, None
    if output is None:
        output = default_output(
            data_dir, clip, "-".join(["edited", *(suppress or []), *(amplify or [])])[:80]
        )
    ckpt, log_file = apply_plan(
        clip,
        plan,
        output,
        extra={
            "selection": {
                "suppress": suppress or [],
                "amplify": amplify or [],
                "rule": rule,
                "threshold": threshold,
                "max_per_layer": max_per_layer,
                "dictionary": dictionary,
                "method": method,
                "sparsity": sparsity,
            }
        },
    )
    return plan, ckpt, log_file
