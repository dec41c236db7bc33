"""Cache folders: one per model, however its checkpoint is named, and never one for two models."""

import pytest

from sith.paths import model_dir, slug


@pytest.mark.parametrize("a, b", [("/x/m.safetensors", "m.safetensors"), ("./m.pt", "m.pt"),
                                  ("/x/y/m.safetensors", "m")])
def test_one_checkpoint_one_folder(a, b):
    assert slug(a) == slug(b)


def test_a_derived_tag_never_shares_its_models_folder():
    """The untrained-vision null of an exported organism (``PATH+untrained-vision-0``) is another
    model: it must not read or overwrite the trained model's image mean and dictionaries."""
    trained = "/runs/organism-v2-routed-s0.safetensors"
    untrained = trained + "+untrained-vision-0"
    assert model_dir("d", "sith-organism", trained) != model_dir("d", "sith-organism", untrained)
    assert slug("v1") != slug("v1+untrained-vision-0")
