import math

import pytest
import torch

from sith.errors import SithError
from sith.metrics import (
    accuracy,
    default_templates,
    group_accuracy,
    zero_shot_logits,
    zero_shot_predict,
    zero_shot_weights,
)

CLASSES = ["landbird", "waterbird", "sparrow"]


class PlantedText:
    """Each prompt = 5·(its class's direction) + a shared offset + template noise."""

    def __init__(self):
        self.prompts = []

    def __call__(self, texts):
        self.prompts += texts
        out = []
        for t in texts:
            c = next(i for i, name in enumerate(CLASSES) if name in t.split() or f"{name}." in t or name in t)
            g = torch.Generator().manual_seed(hash(t) % 2**31)
            v = torch.randn(8, generator=g)
            v[c] += 5.0
            v[7] += 4.0
            out.append(v)
        return torch.stack(out) * 3


def test_zero_shot_uses_the_80_clip_templates_and_classifies_planted_images():
    enc = PlantedText()
    w = zero_shot_weights(CLASSES, enc, batch_size=50)
    assert len(default_templates()) == 80
    assert len(enc.prompts) == 3 * 80 and "a photo of a waterbird." in enc.prompts
    assert w.shape == (3, 8) and torch.allclose(w.norm(dim=1), torch.ones(3))
    images = torch.zeros(6, 8)
    labels = torch.tensor([0, 1, 2, 2, 1, 0])
    images[torch.arange(6), labels] = 1.0
    images[:, 7] = 0.8  # the shared offset is in images too
    assert accuracy(zero_shot_predict(images * 7, w), labels) == 1.0
    assert zero_shot_logits(images, w).shape == (6, 3)


def test_string_templates_and_errors():
    enc = PlantedText()
    zero_shot_weights(CLASSES[:1], enc, templates=["a {} here", "the {}"])
    assert enc.prompts == ["a landbird here", "the landbird"]
    with pytest.raises(SithError):
        zero_shot_weights([], enc)
    with pytest.raises(SithError):
        accuracy(torch.tensor([1, 2]), torch.tensor([1]))


def test_group_accuracy_planted():
    #            g0: 2/2      g1: 1/4          g2: 3/3       g3: empty
    groups = torch.tensor([0, 0, 1, 1, 1, 1, 2, 2, 2])
    labels = torch.tensor([0, 0, 0, 0, 0, 0, 1, 1, 1])
    pred = torch.tensor([0, 0, 0, 1, 1, 1, 1, 1, 1])
    r = group_accuracy(pred, labels, groups, n_groups=4)
    assert r.per_group[:3] == (1.0, 0.25, 1.0) and math.isnan(r.per_group[3])
    assert r.counts == (2, 4, 3, 0)
    assert r.worst == 0.25
    assert r.mean == pytest.approx(0.75)
    assert r.overall == pytest.approx(6 / 9)
    with pytest.raises(SithError):
        group_accuracy(pred[:3], labels, groups)
