"""Dictionary atoms from encoded concepts (docs/method.md §4).

The seed's recipe (``"center"``, the default): L2-normalise each text embedding,
subtract the mean row, L2-normalise again. The project's options (docs/method.md §7, recorded
in every output): ``"raw"`` (normalised embeddings, no centring) and ``"image-cone"``
(the centred cloud moved onto the image mean).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from sith.encode.modes import ATOM_MODES, SEED_ATOM_MODE
from sith.errors import SithError

__all__ = ["ATOM_MODES", "SEED_ATOM_MODE", "concept_atom", "dictionary_atoms"]


def dictionary_atoms(
    embeddings: Tensor, *, mode: str = SEED_ATOM_MODE, image_mean: Tensor | None = None
) -> Tensor:
    """Unit atoms ``(N, e)`` from text embeddings ``(N, e)`` (normalised or not).

    With ``T`` the unit rows and ``t̄`` their mean: ``center`` → ``unit(T_j − t̄)`` (seed);
    ``raw`` → ``T_j``; ``image-cone`` → ``unit(T_j − t̄ + m)`` with the image mean ``m``.

    Raises:
        SithError: unknown mode, ``image-cone`` without an image mean of width ``e``, or an
            atom that vanishes (a concept whose embedding equals the shift).
    """
    T = F.normalize(embeddings.detach().float(), dim=-1)
    return _shift(T, T.mean(dim=0), mode=mode, image_mean=image_mean)


def concept_atom(
    embedding: Tensor,
    dictionary_embeddings: Tensor,
    *,
    mode: str = SEED_ATOM_MODE,
    image_mean: Tensor | None = None,
) -> Tensor:
    """The atom ``(e,)`` of any concept, made exactly like the dictionary's atoms (same mean)."""
    T = F.normalize(dictionary_embeddings.detach().float(), dim=-1)
    e = F.normalize(embedding.detach().float().reshape(1, -1), dim=-1)
    return _shift(e, T.mean(dim=0), mode=mode, image_mean=image_mean)[0]


def _shift(T: Tensor, text_mean: Tensor, *, mode: str, image_mean: Tensor | None) -> Tensor:
    if mode not in ATOM_MODES:
        raise SithError(f"unknown atom mode {mode!r}; available: {', '.join(ATOM_MODES)}")
    if mode == "raw":
        return T
    shifted = T - text_mean
    if mode == "image-cone":
        if image_mean is None:
            raise SithError("atom mode 'image-cone' needs an image mean; run `sith image-mean` first")
        mean = image_mean.detach().float().reshape(-1).to(T.device)
        if mean.shape[0] != T.shape[1]:
            raise SithError(
                f"image mean has width {mean.shape[0]} but the text embeddings {T.shape[1]}; "
                "compute the image mean with the same model"
            )
        shifted = shifted + mean
    norms = torch.linalg.vector_norm(shifted, dim=-1)
    if bool((norms < 1e-6).any()):
        bad = int(torch.argmin(norms))
        raise SithError(f"concept #{bad} has a zero atom after the {mode!r} shift; remove it from the pool")
    return shifted / norms[:, None]
