"""The explorer in a browser on a decomposition made by the seed's code (issue 26): a bare
``{scores, indices}`` file with no singular values or fidelity renders without errors."""

from __future__ import annotations

import pytest
import torch

from sith.explore import build_explorer
from sith.io import save_pt

HEADS, RANK, K = 4, 8, 3


@pytest.fixture(scope="module")
def seed_page(tmp_path_factory):
    data = tmp_path_factory.mktemp("seedpage")
    (data / "dictionaries").mkdir()
    (data / "dictionaries" / "conceptnet.txt").write_text(
        "\n".join(f"concept {i}" for i in range(40)) + "\n", encoding="utf-8"
    )
    g = torch.Generator().manual_seed(0)
    scores = torch.rand(HEADS * RANK, K, generator=g).sort(dim=-1, descending=True).values
    indices = torch.randint(0, 40, (HEADS * RANK, K), generator=g)
    folder = data / "models" / "ViT-L-14" / "laion2b_s32b_b82k" / "decompositions"
    # 16 heads is what ViT-L-14 has; here the file is 3-D so the count comes from the shape
    save_pt({"scores": scores.reshape(HEADS, RANK, K), "indices": indices.reshape(HEADS, RANK, K)},
            folder / "layer-20_right_foldln_conceptnet_comp-0.3_sparsity-3.pt")
    return build_explorer("ViT-L-14", "laion2b_s32b_b82k", data_dir=data, output=data / "p.html",
                          progress=False)


def test_seed_file_renders_with_unknown_values_shown_as_dashes(page, seed_page):
    page.goto(seed_page.as_uri() + "#L20H1")
    page.wait_for_selector("html[data-ready='1']")
    page.wait_for_selector(".comp")
    assert page.locator(".comp").count() == RANK
    text = page.locator(".comp").first.inner_text()
    assert "concept" in text and "–" in text
