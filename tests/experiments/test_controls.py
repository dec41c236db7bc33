"""The pieces of the edit experiments: rules, controls, comparison, result files, negation."""

from __future__ import annotations

import json

import pytest
import torch

import sith.api as api
from sith.edit import ComponentEdit
from sith.experiments.controls import Condition, edited_model
from sith.experiments.results import bar_plot, beats, from_seeds, verdict, write_results
from sith.experiments.setup import analyse
from sith.factor import head_vo, layer_svd


def test_beats_and_verdict_need_every_seed():
    a, b = from_seeds([0.8, 0.7, 0.9]), from_seeds([0.7, 0.7, 0.8])
    assert not beats(a, b, True)  # a tie on one seed is not a win
    assert beats(from_seeds([0.8, 0.8, 0.9]), b, True) and beats(b, a, False) is False
    rows = [
        {"condition": "original", "kind": "original", "metrics": {"m": from_seeds([0.5, 0.5])}},
        {"condition": "judged", "kind": "judged", "metrics": {"m": from_seeds([0.7, 0.6])}},
        {"condition": "random-1", "kind": "random", "metrics": {"m": from_seeds([0.6, 0.65])}},
    ]
    v = verdict(rows, {"m": True})["m"]
    assert (
        v["beats_original"]
        and not v["beats_all_controls"]
        and v["beats"] == {"original": True, "random-1": False}
    )


def test_write_results_replaces_only_when_complete(tmp_path):
    out = tmp_path / "res"
    write_results(out, "x", {"a": 1}, csv_body="c\n", markdown="m\n", plot=None)
    written = json.loads((out / "x.json").read_text())
    assert written == {"format": "sith-experiment-results/1", "a": 1, "complete": True}

    def broken_plot(path):
        raise RuntimeError("plot failed")

    with pytest.raises(RuntimeError):
        write_results(out, "x", {"a": 2}, csv_body="c\n", markdown="m\n", plot=broken_plot)
    assert json.loads((out / "x.json").read_text())["a"] == 1  # the old complete result is intact
    assert [p.name for p in tmp_path.iterdir()] == ["res"]


def test_write_results_draws_the_png_with_the_base_install(tmp_path):
    """matplotlib is a base dependency: the plot is always drawn, never skipped."""
    rows = [{"condition": "original", "kind": "original", "n_components": 0,
             "metrics": {"m": from_seeds([0.5, 0.6])}}]
    out = write_results(tmp_path / "res", "x", {}, csv_body="c\n", markdown="m\n",
                        plot=lambda p: bar_plot(rows, ["m"], "t", p))
    assert (out / "x.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_negation_edit_is_exact(data_dir):
    """α = −1 (the NSFW rule's 'negate') flips exactly that singular value (docs/method.md §6)."""
    analysis = analyse(api.workspace(data_dir=data_dir, progress=False), layers=[5])
    model = edited_model(analysis, Condition("neg", "judged", (ComponentEdit(5, 2, 1, -1.0),)))
    before = layer_svd(analysis.ws.weights, 5, fold_ln=True)
    after = head_vo(model.weights, 5, fold_ln=True).dense.double()
    U, S, Vh = (t.double() for t in before)
    expected = U[2] @ torch.diag(S[2]) @ Vh[2]
    expected -= 2 * S[2, 1] * torch.outer(U[2, :, 1], Vh[2, 1])
    assert torch.allclose(after[2], expected, atol=1e-4)
    assert torch.allclose(after[0], (U[0] @ torch.diag(S[0]) @ Vh[0]), atol=1e-4)
