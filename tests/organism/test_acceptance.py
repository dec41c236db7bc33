"""The v2 acceptance script on a tiny routed/control pair (the code path, not the verdict)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from sith.organism import acceptance as A

ROOT = Path(__file__).resolve().parents[2] / "experiments" / "organism_v2"


def _script(name: str):  # noqa: ANN202
    spec = importlib.util.spec_from_file_location(f"organism_v2_{name}", ROOT / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("organism-v2")
    _script("train").run_seed(0, out, tiny=True)
    return out


def test_accept_script_writes_every_gate(runs: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code = _script("accept").main(["--runs", str(runs), "--output-dir", str(tmp_path), "--seeds", "0",
                                   "--n", "16"])
    assert code == 0
    result = json.loads((tmp_path / "acceptance.json").read_text())
    seed = result["seeds"]["0"]
    assert set(seed["gates"]) == {"accuracy", "vs_control", "skull", "birds", "birds_learned", "share",
                                  "realism"}
    assert all(isinstance(v, bool) for v in seed["gates"].values())
    assert result["accepted"] is False  # a 12-step tiny model learns nothing
    shares = seed["routed"]["shares"]
    assert set(shares["factors"]) == {"background", "color", "shape"}
    assert sum(shares["heads_by_factor_count"].values()) == 4  # 2 layers x 2 heads
    assert set(result["v1_realism"]) == set(seed["routed"]["realism"])
    assert "seed 0:" in capsys.readouterr().out


def test_missing_run_is_a_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    args = ["--runs", str(tmp_path), "--output-dir", str(tmp_path / "o"), "--seeds", "3"]
    code = _script("accept").main(args)
    assert code == 2 and not (tmp_path / "o").exists()
    err = capsys.readouterr().err
    assert "routed-s3" in err and err.count("\n") == 1


@pytest.mark.parametrize("script", ["accept", "measure"])
def test_an_unknown_recipe_is_a_one_line_error(script: str, tmp_path: Path,
                                               capsys: pytest.CaptureFixture) -> None:
    args = ["--runs", str(tmp_path), "--output-dir", str(tmp_path / "o"), "--seeds", "0",
            "--variant", "v2-bogus"]
    if script == "measure":
        args += ["--acceptance", str(tmp_path / "acceptance.json")]
    assert _script(script).main(args) == 2 and not (tmp_path / "o").exists()
    err = capsys.readouterr().err
    assert "'v2-bogus'" in err and "v2-few-bird-twins" in err and err.count("\n") == 1


def test_partial_checkpoints_are_never_accepted(runs: Path) -> None:
    routed = A.load_run(runs / "routed-s0" / "checkpoint.pt")
    control = A.load_run(runs / "control-s0" / "checkpoint-4.pt")
    r = A.measure(routed, n=8)
    assert np.isfinite(r["shares"]["factors"]["color"]["share"])
    result = A.accept({0: (routed, control)}, n=8, reference=routed)
    assert result["partial"] == ["control-s0@4/12"] and result["accepted"] is False


@pytest.fixture(scope="module")
def unaccepted(runs: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The acceptance.json of the tiny runs (a 12-step model: not accepted)."""
    out = tmp_path_factory.mktemp("acc")
    assert _script("accept").main(["--runs", str(runs), "--output-dir", str(out), "--seeds", "0",
                                   "--n", "16"]) == 0
    return out / "acceptance.json"


def test_measure_refuses_an_unaccepted_model(runs: Path, unaccepted: Path, tmp_path: Path,
                                             capsys: pytest.CaptureFixture) -> None:
    """Explanations are never scored on a model that failed acceptance (unless asked, marked)."""
    capsys.readouterr()
    args = ["--runs", str(runs), "--acceptance", str(unaccepted),
            "--output-dir", str(tmp_path / "m"), "--seeds", "0"]
    assert _script("measure").main(args) == 2
    err = capsys.readouterr().err
    assert "not accepted" in err and "--unaccepted" in err and err.count("\n") == 1
    assert not (tmp_path / "m").exists()


def test_measure_development_run_is_marked(runs: Path, unaccepted: Path, tmp_path: Path) -> None:
    args = ["--runs", str(runs), "--acceptance", str(unaccepted),
            "--output-dir", str(tmp_path / "m"), "--seeds", "0", "--unaccepted", "--twin-pairs", "10",
            "--twin-seeds", "1", "--n", "16", "--draws", "1", "--edit-seeds", "1"]
    assert _script("measure").main(args) == 0
    result = json.loads((tmp_path / "m" / "measure.json").read_text())
    assert result["accepted"] is False
    text = (tmp_path / "m" / "measure.md").read_text()
    assert text.startswith("**NOT ACCEPTED")
    assert set(result["sith"]["factors"]) == {"shape", "color", "size", "background", "bird", "unsafe"}
    assert list(result["recipes"]) == ["seed recipe", "no image mean", "both polarities", "omp"]
    assert set(result["edits"]) == {"skull", "red", "water,ocean"}
    # the seed recipe's row is the main run's first twin seed, not a rerun
    seed_row = result["recipes"]["seed recipe"]["color"]["naming"]
    assert seed_row == result["per_seed"]["routed"]["0"][0]["color"]["naming_share"]


def test_a_v2_export_defaults_to_the_v2_pool(runs: Path, tmp_path: Path) -> None:
    """An organism trained on the v2 world explains with the pool that holds the words its
    captions taught it; v1 keeps its own."""
    from sith.organism.model import export_organism
    from sith.pipeline import model_default_dictionary

    export_organism(runs / "routed-s0" / "checkpoint.pt", out_dir=tmp_path, tag="v2-test")
    weights = str(tmp_path / "organism-v2-test.safetensors")
    assert model_default_dictionary("sith-organism", weights) == "organism-v2"
    assert model_default_dictionary("sith-organism", "v1") == "organism"
    assert model_default_dictionary("sith-organism") == "organism"


def test_a_habitat_only_model_passes_birds_but_not_birds_learned() -> None:
    """The letter of the issue's birds gate accepts a model that ignores the bird; birds_learned
    does not (the reading written into docs/organism.md before it was scored)."""
    def model(spurious: dict[str, float]) -> dict:
        acc = {f: 1.0 for f in A.GATED_ACCURACY}
        sp = {**spurious, "average": float(np.mean(list(spurious.values()))),
              "worst_group": min(spurious.values())}
        return {"zero_shot": {"factor_accuracy": acc, "spurious": sp, "skull_auc": 1.0},
                "shares": {"factors": {"color": {"share": 0.9}}}, "realism": {"logit_scale": 30.0}}

    habitat = model({"duck/water": 1.0, "duck/land": 0.0, "sparrow/water": 0.0, "sparrow/land": 1.0})
    learned = model({"duck/water": 0.98, "duck/land": 0.70, "sparrow/water": 0.81, "sparrow/land": 0.97})
    v1 = {"logit_scale": 28.0}
    g = A.gates(habitat, habitat, v1)
    assert g["birds"] and not g["birds_learned"]
    g = A.gates(learned, learned, v1)
    assert g["birds"] and g["birds_learned"] and all(g.values())


#: The gates docs/organism.md says each committed seed-0 acceptance fails ("Organism v2", Status).
COMMITTED_FAILURES = {"v2": {"birds"}, "v2-nobird": {"birds"}, "v2-natural-birds": {"birds_learned"},
                      "v2-few-bird-twins": {"birds"}}


@pytest.mark.parametrize("variant", sorted(COMMITTED_FAILURES))
def test_committed_acceptances_match_the_gates_and_the_docs(variant: str) -> None:
    """Each committed JSON's verdicts are what today's gates make of its own measurements, and
    fail exactly where the docs say (v2 and v2-nobird predate birds_learned, which they pass)."""
    path = ROOT.parents[0] / "results" / "organism_v2" / f"acceptance-{variant}" / "acceptance.json"
    result = json.loads(path.read_text())
    seed = result["seeds"]["0"]
    now = A.gates(seed["routed"], seed["control"], result["v1_realism"])
    assert {k: now[k] for k in seed["gates"]} == seed["gates"]
    assert {k for k, v in now.items() if not v} == COMMITTED_FAILURES[variant]
    assert result["variant"] == variant and result["accepted"] is False
    assert not result["partial"] and result["n_images"] == 400
