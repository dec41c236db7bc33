"""The same random ViT-B-32 through open_clip and through a Hugging Face CLIPModel (issue 26):
identical weight views, identical decompositions, identical edits.

The open_clip model is converted to ``transformers.CLIPModel`` (``tests/load/openclip_to_hf.py``:
renaming and splitting only), saved with ``save_pretrained`` and loaded back through the HF
loader, so everything from the loader on runs the HF code path. The dictionary is encoded
by each path with its own text tower and the image mean by each with its own image tower.
"""

from __future__ import annotations

import open_clip
import pytest
import torch
import torch.nn.functional as F

from sith.decompose import decompose_layer
from sith.edit import ComponentEdit, edited_head_outputs
from sith.encode import dictionary_atoms
from sith.load import load_clip, verify, wrap_open_clip
from tests.load.openclip_to_hf import open_clip_to_hf

pytest.importorskip("transformers")

WORDS = (
    "dog cat car tree house water fire music river bird flower city road chair table "
    "phone book paper glass stone snow rain cloud horse ship train plane bread apple "
    "green red blue yellow black white night summer winter king queen child woman man "
    "doctor teacher church school market garden forest mountain ocean island desert"
).split()


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """``(open_clip LoadedClip, HF LoadedClip)`` with the same random weights."""
    torch.manual_seed(0)
    model = open_clip.create_model("ViT-B-32", pretrained=None)
    with torch.no_grad():  # open_clip zero-inits biases; make them matter (a slicing slip must show)
        for name, p in model.named_parameters():
            if name.endswith("bias"):
                p.add_(0.05 * torch.randn_like(p))
    oc = wrap_open_clip(model, model_name="ViT-B-32", tokenizer=open_clip.get_tokenizer("ViT-B-32"))
    path = tmp_path_factory.mktemp("hf") / "vit-b-32"
    open_clip_to_hf(model).save_pretrained(path)
    return oc, load_clip(str(path))


def test_weight_views_identical(pair) -> None:
    oc, hf = pair
    assert (oc.info.source, hf.info.source) == ("open_clip", "hf")
    for a, b in zip(oc.weights.layers, hf.weights.layers, strict=True):
        for f in ("W_V", "W_O", "b_V", "b_O", "ln1_weight", "ln1_bias"):
            assert torch.equal(getattr(a, f), getattr(b, f)), f
    for f in ("proj", "ln_post_weight", "ln_post_bias"):
        assert torch.equal(getattr(oc.weights, f), getattr(hf.weights, f)), f
    assert oc.weights.ln_post_eps == hf.weights.ln_post_eps
    assert max(verify(hf)) <= 1e-5 and max(verify(oc)) <= 1e-5


@pytest.fixture(scope="module")
def encoded(pair):
    """Per path: image embeddings of 3 seeded noise images and text embeddings of ``WORDS``."""
    pixels = torch.randn(3, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    return [(clip.encode_images(pixels), clip.encode_text(WORDS)) for clip in pair]


def test_encoders_agree(pair, encoded) -> None:
    (img_a, txt_a), (img_b, txt_b) = encoded
    assert float((img_a - img_b).abs().max()) <= 1e-5 * float(img_a.abs().max())
    assert float((txt_a - txt_b).abs().max()) <= 1e-5 * float(txt_a.abs().max())
    # control: the bar sees a real difference (another text order moves the rows)
    assert float((txt_a - txt_b.flip(0)).abs().max()) > 1e-2


@pytest.mark.parametrize("layer", [8, 11])
def test_decompositions_identical(pair, encoded, layer: int) -> None:
    a, b = (
        decompose_layer(
            clip.weights,
            dictionary_atoms(txt),
            WORDS,
            layer,
            image_mean=F.normalize(img, dim=-1).mean(dim=0),
        )
        for clip, (img, txt) in zip(pair, encoded, strict=True)
    )
    assert torch.equal(a.indices, b.indices)
    torch.testing.assert_close(a.scores, b.scores, atol=1e-5, rtol=0)
    torch.testing.assert_close(a.fidelity, b.fidelity, atol=1e-5, rtol=0)
    torch.testing.assert_close(a.singular_values, b.singular_values, atol=0, rtol=1e-6)
    assert a.concepts == b.concepts


def test_exact_edits_identical(pair) -> None:
    oc, hf = pair
    edits = [ComponentEdit(11, 0, 0, 0.0), ComponentEdit(11, 5, 2, 2.0)]
    a = edited_head_outputs(oc.weights, edits, fold_ln=True)
    b = edited_head_outputs(hf.weights, edits, fold_ln=True)
    assert a.keys() == b.keys() == {11}
    assert torch.equal(a[11], b[11])
