"""The zoo check (benchmarks/zoo.py) on the CI subset: small architectures with distinct
features pass every check, non-ViT towers are refused with the one-line message, and the
checks themselves can fail."""

from __future__ import annotations

import dataclasses
import json

import pytest

from benchmarks import zoo, zoo_checks
from sith.load import ModelInfo, extract_weights, wrap_open_clip
from tests.load.tiny import tiny_open_clip

REFUSED = {
    "RN50": "ResNet",
    "ViT-B-16-SigLIP": "timm model",
    "convnext_base": "timm model",
    "coca_ViT-B-32": "attentional pooler",
    "ViT-L-14-CLIPA": "'avg'",
}


def test_small_is_what_ci_runs() -> None:
    assert set(zoo.SMALL) == {"ViT-S-32", "ViT-M-16-alt", *REFUSED}


def test_layer_scale_architecture_passes(tmp_path) -> None:
    """ViT-M-16-alt: 8 heads of 64 on d = 512, a 384-wide joint space, LayerScale."""
    r = zoo_checks.run_checks("ViT-M-16-alt", tmp_path, n_words=60)
    assert r["status"] == "pass", r
    assert r["shape"] == {"layers": 12, "heads": 8, "d": 512, "dh": 64, "e": 384, "layer_scale": True}
    assert r["verify_max_error"] <= 1e-5 and r["verify_random_ls_max_error"] <= 1e-5
    assert r["readout_rel_error"] <= 1e-5
    assert r["edit"]["edit_rel_error"] <= 1e-5
    assert r["decompose"]["n_words"] == 60 and 0 < r["decompose"]["fidelity_mean"] <= 1


@pytest.mark.parametrize(("name", "reason"), sorted(REFUSED.items()))
def test_refusals_are_one_line(tmp_path, name: str, reason: str) -> None:
    r = zoo_checks.run_checks(name, tmp_path)
    assert r["status"] == "refused"
    assert r["message"].startswith(f"cannot analyse {name!r}") and reason in r["message"]
    assert "\n" not in r["message"]


def test_checks_can_fail(tmp_path, monkeypatch) -> None:
    """A tolerance of 0 fails verify; an edit that did not happen fails the folded-matrix
    check; a wrong ln_post eps fails the readout check."""
    monkeypatch.setattr(zoo_checks, "VERIFY_TOL", 0.0)
    r = zoo_checks.run_checks("ViT-S-32", tmp_path, n_words=20)
    assert (r["status"], r["failed_check"]) == ("fail", "verify")
    assert r["message"].startswith("layer ")
    w = extract_weights(tiny_open_clip(), ModelInfo("tiny", "", ""))
    with pytest.raises(zoo_checks.CheckFailed, match="head 0"):
        zoo_checks.check_folded(w, w, 1, [(0, 0)])
    clip = wrap_open_clip(tiny_open_clip(), model_name="tiny")
    monkeypatch.undo()  # the real tolerance again
    assert zoo_checks.check_readout(clip) <= 1e-5
    bad = dataclasses.replace(clip, weights=dataclasses.replace(clip.weights, ln_post_eps=1e-1))
    with pytest.raises(zoo_checks.CheckFailed, match=r"LN_post\(cls\)"):
        zoo_checks.check_readout(bad)


def test_driver_subprocess_and_table(tmp_path) -> None:
    """The driver: ViT-S-32 in a worker process (peak RSS recorded), ViT-B-32 over
    --max-params (skipped with its count), RN50 refused; the JSON and the table agree."""
    out = tmp_path / "zoo.json"
    argv = ["--only", "ViT-S-32,ViT-B-32,RN50", "--max-params", "7e7", "--words", "40", "--output", str(out)]
    assert zoo.main(argv) == 0
    data = json.loads(out.read_text())
    by = {r["name"]: r for r in data["results"]}
    assert [r["name"] for r in data["results"]] == ["ViT-S-32", "RN50", "ViT-B-32"]  # smallest first
    assert by["ViT-S-32"]["status"] == "pass" and by["ViT-S-32"]["peak_rss_mb"] > 100
    assert by["ViT-B-32"]["status"] == "skipped (size)" and by["ViT-B-32"]["params"] == 151277313
    assert by["RN50"]["status"] == "refused" and "ResNet" in by["RN50"]["message"]
    text = zoo.table(data)
    assert "| ViT-S-32 | 63 | 12 × 6 × 64 (384) |" in text and "--max-params 1.5e+08" in text
    assert "| its vision tower is a ResNet (attention only in the final pool) | 1 | RN50 |" in text
    assert "Example refusal (one line): `cannot analyse 'RN50'" in text


def test_bad_inputs(tmp_path, capsys) -> None:
    for argv, needle in (
        (["--max-params", "-1"], "--max-params must be > 0"),
        (["--words", "2"], "--words must be >= 5"),
        (["--only", "ViT-B-32", "--small"], "pass one of them"),
    ):
        with pytest.raises(SystemExit) as exc:
            zoo.parse_args(argv)
        assert exc.value.code == 2 and needle in capsys.readouterr().err
    with pytest.raises(SystemExit, match="unknown architecture"):
        zoo.main(["--only", "ViT-Q-99", "--output", str(tmp_path / "z.json")])
    with pytest.raises(SystemExit, match="does not exist"):
        zoo.main(["--table", str(tmp_path / "missing.json")])
    assert not (tmp_path / "z.json").exists()
