"""Explain every head's singular vectors with concepts (METHOD.md §2–5).

:func:`decompose_layer` is the pure core: weights + atoms → :class:`LayerDecomposition`.
:func:`decompose` is what ``sith decompose`` calls: it loads the model, reads and
(if needed) encodes the dictionary, runs every requested layer and writes the
seed's files.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from sith import __version__
from sith.decompose.results import LayerDecomposition, used_concepts
from sith.decompose.solvers import parse_method, solve
from sith.errors import SithError
from sith.factor import TIE_RTOL, check_layer, check_rank, singular_targets
from sith.load.weights import VisionWeights
from sith.paths import DEFAULT_DATA_DIR, decomposition_path

log = logging.getLogger(__name__)

POLARITY_MODES = ("best", "both", "positive")

#: How concept embeddings become atoms (METHOD.md §3); settled on the organism, docs/choices.md.
DEFAULT_ATOMS_MODE = "center"


def prepare_dictionary(clip: Any, dictionary: str, *, data_dir: str | Path, progress: bool = True) -> Any:
    """The dictionary encoded by ``clip``: downloaded and encoded first if needed (with a message).

    ``dictionary`` is a pool name (``organism``, ``laion``, ...) or a text file path.
    """
    from sith.encode import POOLS, download_dictionary, encode_pool, read_pool
    from sith.paths import dictionary_text_path

    if dictionary in POOLS and not dictionary_text_path(data_dir, dictionary).exists():
        log.warning("dictionary %r not downloaded yet: downloading it first", dictionary)
        download_dictionary(dictionary, data_dir=data_dir)
    pool = read_pool(dictionary, data_dir=data_dir)
    return encode_pool(clip, pool, data_dir=data_dir, progress=progress)


def prepare_image_mean(clip: Any, *, data_dir: str | Path) -> Tensor:
    """The saved mean image embedding of ``clip`` (``sith image-mean``); SithError if absent."""
    from sith.encode import load_image_mean
    from sith.paths import image_mean_path

    path = image_mean_path(data_dir, clip.info.model_name, clip.info.pretrained)
    if not path.exists():
        raise SithError(
            f"no image mean for this model at {path}; run `sith image-mean --images DIR` first "
            "or use --atoms center"
        )
    return load_image_mean(path, expect_model=clip.info)


def default_layers(n_layers: int, last: int = 4) -> list[int]:
    """The seed's default: the last ``last`` layers (all of them if there are fewer)."""
    return list(range(max(0, n_layers - last), n_layers))


def default_rank(weights: VisionWeights, rank: int | None) -> int:
    """``rank`` validated, or 64 capped at the head width when ``rank`` is None."""
    return min(64, weights.d_head) if rank is None else check_rank(weights, rank)


def check_sparsity(sparsity: int, n_atoms: int) -> int:
    if not 1 <= sparsity <= n_atoms:
        raise SithError(
            f"sparsity {sparsity} is invalid for a dictionary of {n_atoms} concepts; "
            f"pass --sparsity between 1 and {n_atoms}"
        )
    return sparsity


def decompose_layer(
    weights: VisionWeights,
    atoms: Tensor,
    concepts: list[str],
    layer: int,
    *,
    sv_type: str = "right",
    fold_ln: bool = True,
    rank: int | None = None,
    method: str = "comp-0.3",
    sparsity: int = 5,
    polarity: str = "best",
    device: str | torch.device | None = None,
    provenance: dict[str, Any] | None = None,
) -> LayerDecomposition:
    """Decompose the top-``rank`` singular vectors of every head of ``layer``.

    Args:
        weights: the model's weight view.
        atoms: ``(N, e)`` unit concept atoms (:func:`sith.encode.concept_atoms`).
        concepts: the ``N`` concept strings.
        polarity: ``"best"`` explains, per vector, whichever of ``p`` / ``-p`` the solver
            fits with higher fidelity (ties → ``+``); ``"both"`` does that and also
            stores the other polarity under ``alt``; ``"positive"`` explains ``p`` only.

    Returns:
        :class:`LayerDecomposition` with ``scores``/``indices`` ``(num_heads, rank, K)``.
    """
    if polarity not in POLARITY_MODES:
        raise SithError(f"unknown polarity mode {polarity!r}; use one of {', '.join(POLARITY_MODES)}")
    layer = check_layer(weights, layer)
    rank = default_rank(weights, rank)
    check_sparsity(sparsity, atoms.shape[0])
    parse_method(method)
    if atoms.shape[1] != weights.d_embed:
        raise SithError(
            f"dictionary embeddings have width {atoms.shape[1]} but the model's joint space has "
            f"{weights.d_embed}; encode the dictionary with this model"
        )
    t = singular_targets(weights, layer, fold_ln=fold_ln, sv_type=sv_type, rank=rank)
    H = t.vectors.shape[0]
    flat = t.vectors.reshape(H * rank, -1)
    targets = flat if polarity == "positive" else torch.cat([flat, -flat])
    code = solve(targets, atoms, sparsity, method=method, device=device)
    w, idx, fid = (x.cpu() for x in code)
    n = H * rank
    pol = torch.ones(n, dtype=torch.int8)
    alt: dict[str, Tensor] = {}
    if polarity != "positive":
        neg_better = fid[n:] > fid[:n]
        pol[neg_better] = -1
        pick = torch.where(neg_better, torch.arange(n) + n, torch.arange(n))
        other = torch.where(neg_better, torch.arange(n), torch.arange(n) + n)
        if polarity == "both":
            alt = {
                "scores": w[other].reshape(H, rank, sparsity),
                "indices": idx[other].reshape(H, rank, sparsity),
                "fidelity": fid[other].reshape(H, rank),
            }
        w, idx, fid = w[pick], idx[pick], fid[pick]
    scores = w.reshape(H, rank, sparsity)
    indices = idx.reshape(H, rank, sparsity)
    all_idx = torch.cat([indices.flatten(), alt["indices"].flatten()]) if alt else indices
    config = {
        "layer": layer,
        "sv_type": sv_type,
        "fold_ln": fold_ln,
        "rank": rank,
        "method": method,
        "sparsity": sparsity,
        "polarity_mode": polarity,
        "tie_rtol": TIE_RTOL,
        "n_concepts": int(atoms.shape[0]),
        "sith_version": __version__,
        "model": weights.info.as_dict(),
        **(provenance or {}),
    }
    return LayerDecomposition(
        scores=scores,
        indices=indices,
        singular_values=t.singular_values.cpu(),
        fidelity=fid.reshape(H, rank),
        polarity=pol.reshape(H, rank),
        tied=t.tied.cpu(),
        concepts=used_concepts(all_idx, concepts),
        config=config,
        alt=alt,
    )


def default_dictionary(model_name: str, dictionary: str | None) -> str:
    """``dictionary``, or the model's default pool: the organism's own, ``laion`` otherwise."""
    from sith.load import DEFAULT_MODEL

    return dictionary or ("organism" if model_name == DEFAULT_MODEL else "laion")


def layer_file(
    clip: Any,
    encoded: Any,
    layer: int,
    *,
    data_dir: str | Path,
    sv_type: str,
    fold_ln: bool,
    method: str,
    sparsity: int,
) -> Path:
    """Where :func:`decompose` writes ``layer`` of ``clip`` explained with ``encoded``."""
    return decomposition_path(
        data_dir,
        clip.info.model_name,
        clip.info.pretrained,
        layer,
        sv_type,
        fold_ln,
        encoded.name,
        method,
        sparsity,
    )


def decompose_model(
    clip: Any,
    encoded: Any,
    *,
    layers: list[int] | None = None,
    rank: int | None = None,
    method: str = "comp-0.3",
    sparsity: int = 5,
    sv_type: str = "right",
    fold_ln: bool = True,
    data_dir: str | Path = DEFAULT_DATA_DIR,
    device: str = "cpu",
    both_polarities: bool = False,
    atoms_mode: str | None = None,
) -> list[Path]:
    """:func:`decompose` for an already loaded model and encoded dictionary."""
    from sith.encode import concept_atoms

    weights = clip.weights
    layers = [check_layer(weights, layer) for layer in layers] if layers else default_layers(weights.n_layers)
    rank = default_rank(weights, rank)
    mode = atoms_mode or DEFAULT_ATOMS_MODE
    image_mean = prepare_image_mean(clip, data_dir=data_dir) if mode == "image-cone" else None
    atoms = concept_atoms(encoded, image_mean=image_mean, mode=mode)
    check_sparsity(sparsity, atoms.shape[0])
    provenance = {
        "dictionary": encoded.name,
        "dictionary_hash": encoded.pool_hash,
        "atoms_mode": mode,
    }
    paths = []
    for layer in layers:
        result = decompose_layer(
            weights,
            atoms,
            encoded.concepts,
            layer,
            sv_type=sv_type,
            fold_ln=fold_ln,
            rank=rank,
            method=method,
            sparsity=sparsity,
            polarity="both" if both_polarities else "best",
            device=device,
            provenance=provenance,
        )
        path = layer_file(
            clip,
            encoded,
            layer,
            data_dir=data_dir,
            sv_type=sv_type,
            fold_ln=fold_ln,
            method=method,
            sparsity=sparsity,
        )
        result.save(path)
        log.info("wrote %s", path)
        paths.append(path)
    return paths


def decompose(
    model_name: str | None = None,
    pretrained: str | None = None,
    *,
    layers: list[int] | None = None,
    rank: int | None = None,
    method: str = "comp-0.3",
    sparsity: int = 5,
    dictionary: str | None = None,
    sv_type: str = "right",
    fold_ln: bool = True,
    data_dir: str | Path = DEFAULT_DATA_DIR,
    device: str = "cpu",
    both_polarities: bool = False,
    atoms_mode: str | None = None,
    progress: bool = True,
) -> list[Path]:
    """Run SITH on ``layers`` of a model and write one seed-format file per layer.

    Defaults: the built-in organism, its own concept pool (``laion`` for other models),
    the last 4 layers, rank 64 capped at the head width, ``comp-0.3``, sparsity 5,
    right vectors, folded LayerNorm. A dictionary that is not encoded yet for this model
    is encoded first (and downloaded first if it is a known pool not yet on disk).

    Returns:
        The written paths, one per layer:
        ``data/models/{model}/{pretrained}/decompositions/layer-{l}_..._sparsity-{K}.pt``.
    """
    from sith.load import load_clip
    from sith.load.clip import default_names

    model_name, pretrained = default_names(model_name, pretrained)
    parse_method(method)
    check_sparsity(sparsity, max(sparsity, 1))  # the upper bound is checked once the dictionary is read
    clip = load_clip(model_name, pretrained, device=device)
    layers = [check_layer(clip.weights, layer) for layer in layers] if layers else None
    default_rank(clip.weights, rank)
    dictionary = default_dictionary(model_name, dictionary)
    encoded = prepare_dictionary(clip, dictionary, data_dir=data_dir, progress=progress)
    return decompose_model(
        clip,
        encoded,
        layers=layers,
        rank=rank,
        method=method,
        sparsity=sparsity,
        sv_type=sv_type,
        fold_ln=fold_ln,
        data_dir=data_dir,
        device=device,
        both_polarities=both_polarities,
        atoms_mode=atoms_mode,
    )
