"""``sith compare`` end to end: a planted change in a saved checkpoint is found; bad input."""

from __future__ import annotations

import json

import torch

from sith.cli import main
from sith.decompose.config import DecompositionRequest
from sith.explore.extras import read_compare
from sith.load import load_clip, save_model


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_planted_change_in_a_checkpoint(tmp_path, capsys):
    clip = load_clip("sith-organism", "v1")
    d, dh, head = clip.weights.d_model, clip.weights.d_head, 1
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        W = clip.model.visual.transformer.resblocks[3].attn.out_proj.weight
        a, b = torch.randn(d, 1, generator=g), torch.randn(1, dh, generator=g)
        W[:, head * dh : (head + 1) * dh] += 0.2 * a @ b
    ckpt = save_model(clip, tmp_path / "tuned.safetensors")
    out = tmp_path / "cmp"
    code, stdout, err = run(capsys, "compare", "--tuned-pretrained", str(ckpt), "--layers", "2", "3",
                            "--dictionary", "organism", "--sparsity", "3",
                            "--data-dir", str(tmp_path / "data"),
                            "--output-dir", str(out), "-q")
    assert code == 0, err
    doc = json.loads((out / "compare.json").read_text())
    assert [x["layer"] for x in doc["layers"]] == [2, 3]
    moved = [(x["layer"], h["head"]) for x in doc["layers"] for h in x["heads"]
             if h["delta_rel_energy"] > 1e-9]
    assert moved == [(3, head)]
    h = doc["layers"][1]["heads"][head]
    assert h["delta_singular_values"][1] < 1e-4 * h["delta_singular_values"][0]  # rank one
    assert (out / "inside_both.png").is_file() and (out / "write_angle_max.png").is_file()
    assert doc["base"]["fingerprint"] != doc["tuned"]["fingerprint"]
    top = h["delta_explanations"][0]  # COMP explanation of ΔW's top write direction, both signs
    assert set(top) == {"index", "singular_value", "+", "-"} and top["index"] == 0
    for sign in "+-":
        assert 1 <= len(top[sign]["concepts"]) <= 3 and 0 < top[sign]["fidelity"] <= 1


def test_identical_and_refusals(tmp_path, capsys):
    code, _, err = run(capsys, "compare", "--tuned-pretrained", "v1", "--layers", "5", "--no-plots",
                       "--output-dir", str(tmp_path / "same"), "-q")
    assert code == 0, err
    doc = json.loads((tmp_path / "same" / "compare.json").read_text())
    assert all(h["delta_rel_energy"] == 0 and h["sv_change"] == 0 and h["read_angle_max"] < 1e-3
               for h in doc["layers"][0]["heads"])
    assert doc["format"] == "sith-compare/1" and all(
        h["singular_value_change"] == [0.0] * doc["config"]["rank"] for h in doc["layers"][0]["heads"])
    shown = read_compare(tmp_path / "same" / "compare.json")  # what `sith explore --compare` reads
    assert shown["5-0"] == {"value": 0.0, "values": [0.0] * doc["config"]["rank"]} and len(shown) == 8
    code, _, err = run(capsys, "compare", "--tuned-model", "ViT-B-32", "--tuned-pretrained", "none",
                       "--output-dir", str(tmp_path / "x"), "-q")
    assert code == 2 and "different architectures" in err and err.count("\n") == 1
    assert not (tmp_path / "x").exists()
    code, _, err = run(capsys, "compare", "--tuned-pretrained", str(tmp_path / "missing.pt"), "-q")
    assert code == 2 and err.startswith("error:")


def test_the_organism_is_explained_with_its_image_mean(tmp_path, monkeypatch):
    """The organism's image mean comes from its plugin entry: explaining its ΔW subtracts it
    (made from its world when missing), as its decompositions do."""
    from sith.compare import explain

    seen = []
    real = explain.joint_targets
    monkeypatch.setattr(explain, "joint_targets", lambda w, x, m: seen.append(m) or real(w, x, m))
    clip = load_clip("sith-organism", "v1")
    H, d = clip.weights.n_heads, clip.weights.d_model
    g = torch.Generator().manual_seed(0)
    vh = torch.nn.functional.normalize(torch.randn(H, 1, d, generator=g), dim=-1)
    results = {5: {"delta_Vh": vh, "delta_S": torch.ones(H, 1)}}
    request = DecompositionRequest(dictionary="organism", sparsity=2)
    out = explain.explain_deltas(clip, results, request, data_dir=tmp_path, progress=False)
    assert len(out[5]) == H and seen and seen[0] is not None and seen[0].shape == (clip.weights.d_embed,)
    assert (tmp_path / "models" / "sith-organism" / "v1" / "image_mean.pt").is_file()
