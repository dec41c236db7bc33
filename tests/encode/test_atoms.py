"""Dictionary atoms (docs/method.md §4): the seed's normalise → subtract mean → normalise, and options."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from sith.encode.atoms import concept_atom, dictionary_atoms
from sith.errors import SithError


@pytest.fixture
def embeddings() -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    common = torch.randn(24, generator=g)
    return 3.0 * (common + 0.5 * torch.randn(9, 24, generator=g))  # unnormalised, like encode_text


def test_seed_atoms_written_out(embeddings) -> None:
    A = dictionary_atoms(embeddings)  # default: the seed's
    T = embeddings / embeddings.norm(dim=-1, keepdim=True)
    C = T - T.mean(0)
    torch.testing.assert_close(A, C / C.norm(dim=-1, keepdim=True))
    # normalising before centring matters (the seed normalises first): scaling one row changes nothing
    scaled = embeddings.clone()
    scaled[0] *= 10
    torch.testing.assert_close(dictionary_atoms(scaled), A)
    off = ~torch.eye(9, dtype=torch.bool)
    assert (A @ A.T)[off].mean() < (T @ T.T)[off].mean() - 0.2


def test_raw_and_image_cone(embeddings) -> None:
    T = F.normalize(embeddings, dim=-1)
    torch.testing.assert_close(dictionary_atoms(embeddings, mode="raw"), T)
    m = 0.6 * F.normalize(torch.randn(24, generator=torch.Generator().manual_seed(1)), dim=0)
    A = dictionary_atoms(embeddings, mode="image-cone", image_mean=m)
    want = T - T.mean(0) + m
    torch.testing.assert_close(A, want / want.norm(dim=-1, keepdim=True))


def test_concept_atom_matches_dictionary_atom(embeddings) -> None:
    A = dictionary_atoms(embeddings)
    torch.testing.assert_close(concept_atom(embeddings[3], embeddings), A[3])


def test_atom_errors(embeddings) -> None:
    with pytest.raises(SithError, match="available: center, raw, image-cone"):
        dictionary_atoms(embeddings, mode="gap")
    with pytest.raises(SithError, match="needs an image mean"):
        dictionary_atoms(embeddings, mode="image-cone")
    with pytest.raises(SithError, match="width 7"):
        dictionary_atoms(embeddings, mode="image-cone", image_mean=torch.zeros(7))
    with pytest.raises(SithError, match="zero atom"):
        dictionary_atoms(torch.ones(3, 24))
