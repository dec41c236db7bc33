"""End to end against docs/method.md: the Workspace's files equal an independent dense re-statement
of the seed's recipe (tests/decompose/seed_reference.py) on a random open_clip and a tiny HF model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sith.decompose import LayerDecomposition
from sith.load import load_clip
from sith.pipeline import DecompositionConfig, Workspace
from tests.decompose import seed_reference as ref
from tests.load.tiny import tiny_hf_model

WORDS = (
    "red blue green water grass sky dog cat car tree ocean sand stone bird fish boat house road "
    "snow fire cloud field forest river lake beach city night day sun moon star metal wood glass "
    "paper light shadow circle square"
).split()


def fixed_mean(clip):  # a model without an image collection: any fixed vector, the same for both sides
    g = torch.Generator().manual_seed(7)
    m = torch.nn.functional.normalize(torch.randn(clip.weights.d_embed, generator=g), dim=0)
    return 0.5 * m, {"source": "test: fixed vector"}


def check_parity(clip, tmp_path, *, layer: int, rank: int, methods, sv_types=("right",), folds=(True,)):
    pool = tmp_path / "words.txt"
    pool.write_text("\n".join(WORDS) + "\n", encoding="utf-8")
    ws = Workspace(clip, data_dir=tmp_path / "data", progress=False, image_mean_source=fixed_mean)
    E = ws.encoded(str(pool)).embeddings.double().numpy()
    m = ws.image_mean().double().numpy()
    for method in methods:
        for sv in sv_types:
            for fold in folds:
                request = DecompositionConfig(
                    clip.info.model_name, clip.info.pretrained, layers=(layer,), rank=rank,
                    method=method, sparsity=3, dictionary=str(pool), sv_type=sv, fold_ln=fold,
                )
                (path,) = ws.decompose(request)
                dec = LayerDecomposition.load(path)
                scores, indices = ref.decompose_layer(
                    clip.weights, layer, E, m, rank=rank, k=3, method=method, fold=fold, sv_type=sv
                )
                assert np.array_equal(dec.indices.numpy(), indices), (method, sv, fold)
                np.testing.assert_allclose(dec.scores.numpy(), scores, atol=1e-4)
                assert (dec.scores[..., :-1] >= dec.scores[..., 1:]).all()  # sorted, descending


def test_random_open_clip_matches_seed_recipe(tmp_path):
    clip = load_clip("ViT-B-32", "none")
    check_parity(clip, tmp_path, layer=11, rank=6, methods=("comp-0.3", "omp", "mp", "topk"))


def test_tiny_hf_matches_seed_recipe_all_variants(tmp_path):
    pytest.importorskip("transformers")
    tiny_hf_model().save_pretrained(tmp_path / "clip")
    clip = load_clip(str(tmp_path / "clip"))
    check_parity(
        clip, tmp_path, layer=1, rank=16, methods=("comp-0.3", "omp"),
        sv_types=("right", "left"), folds=(True, False),
    )
