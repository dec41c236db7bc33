"""Matching a request to dictionary concepts, and telling a known word from noise (nulls on the spot)."""

from __future__ import annotations

import zlib

import torch

from sith.edit.select import familiarity, match_concept, random_strings
from sith.encode import concept_atom, dictionary_atoms

E = 32


def fake_tower(known: dict[str, torch.Tensor]):
    """Known strings map to their vectors; anything else to one noise direction plus a little
    per-string jitter (like an untrained word in a small text tower)."""
    noise = torch.nn.functional.normalize(torch.ones(E), dim=0)

    def encode(texts: list[str]) -> torch.Tensor:
        out = []
        for t in texts:
            if t in known:
                out.append(known[t])
            else:
                g = torch.Generator().manual_seed(zlib.crc32(t.encode()))
                out.append(noise + 0.05 * torch.randn(E, generator=g))
        return torch.stack(out)

    return encode


def vocab():
    g = torch.Generator().manual_seed(0)
    base = {w: torch.randn(E, generator=g) for w in ["skull", "water", "red", "stone", "grass"]}
    known = dict(base)
    known["skull symbol"] = base["skull"] + 0.1 * torch.randn(E, generator=g)
    known["hazard"] = base["skull"] + 0.15 * torch.randn(E, generator=g)
    known["duck on water"] = 0.5 * base["water"] + torch.randn(E, generator=g)
    concepts = [*known, "chance", "social"]  # two words the tower never learned
    return known, concepts


def test_random_strings_keep_shape_and_are_reproducible():
    got = random_strings("duck on water", 3, seed=1)
    assert got == random_strings("duck on water", 3, seed=1)
    assert all(len(s) == 13 and s[4] == " " and s[7] == " " for s in got)
    assert got != random_strings("duck on water", 3, seed=2)


def test_words_and_meaning_matches():
    known, concepts = vocab()
    encode = fake_tower(known)
    emb = encode(concepts)
    atoms = dictionary_atoms(emb)  # the seed's centred atoms

    def make(texts):
        return torch.stack([concept_atom(e, emb) for e in encode(texts)])

    m = match_concept("skull", concepts, atoms, make)
    assert m.in_dictionary
    assert set(m.concepts) == {"skull", "skull symbol", "hazard"}
    assert dict((c, h) for c, h, _ in m.matched)["hazard"] == "meaning"
    assert m.nearest[0][0] == "skull"
    water = match_concept("water", concepts, atoms, make)
    assert "duck on water" in water.concepts  # by words, whatever its cosine
    off = match_concept("skull", concepts, atoms, make, noise_like=True)
    assert set(off.concepts) == {"skull", "skull symbol"}  # no meaning matches for noise


def test_familiarity_tells_known_words_from_noise():
    known, concepts = vocab()
    encode = fake_tower(known)
    atoms = lambda texts: encode(texts)  # noqa: E731
    assert not familiarity("skull", atoms).noise_like
    car = familiarity("car", atoms)
    assert car.noise_like and "treats it like noise" in car.line()
    reach = familiarity("red", atoms, statistic=lambda a: a[:, 0].abs())
    assert reach.reach is not None and reach.reach[0] <= reach.reach[1]
    assert reach.record()["noise_like"] is False
