"""The organism's image mean comes from its own world's images."""

import torch

from sith.load import load_clip
from sith.organism.inputs import organism_image_mean


def test_image_mean_follows_the_world():
    clip = load_clip()
    mean_v1, prov_v1 = organism_image_mean(clip)  # v1 records no world: v1, as always
    mean_v2, prov_v2 = organism_image_mean(clip, world="v2")
    assert "world" not in prov_v1 and prov_v2["world"] == "v2"
    assert mean_v1.shape == mean_v2.shape and not torch.equal(mean_v1, mean_v2)
