"""The head-routing objective: exact direct contributions, the loss, MLP-free blocks, branching."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import sith.organism.train as T
from sith.errors import SithError
from sith.io import load_pt
from sith.organism.routing import Direct, Gates, direct_contributions, routing_loss
from sith.organism.trainconfig import TrainConfig

TINY = dict(image_size=32, patch_size=8, vision_width=32, vision_layers=2, vision_heads=2,
            text_width=32, text_layers=1, text_heads=2, context_length=16, embed_dim=16,
            batch_size=32, warmup=2, threads=1, world="v2", mlp_free_last=1,
            twin_factors=("shape", "color", "background", "bird", "unsafe"), routing_assignment="tiny")


def tiny(**kw: object) -> TrainConfig:
    return TrainConfig(**{**TINY, **kw})  # type: ignore[arg-type]


def test_direct_contributions_are_exact() -> None:
    torch.manual_seed(0)
    model = T.build_model(T.model_config(tiny())).eval()
    x = torch.randn(5, 3, 32, 32)
    d = direct_contributions(model, x)
    torch.testing.assert_close(d.feature, model.encode_image(x), rtol=1e-5, atol=1e-5)
    whole = d.heads.sum((1, 2)) + d.mlps.sum(1) + d.rest
    torch.testing.assert_close(whole, torch.nn.functional.normalize(d.feature, dim=-1), rtol=1e-5, atol=1e-5)
    assert d.heads.shape == (5, 2, 2, 16) and d.mlps.shape == (5, 2, 16)


def test_penalty_is_zero_when_only_the_assigned_head_carries_the_factor() -> None:
    text = torch.nn.functional.normalize(torch.randn(3, 4), dim=-1)
    y = np.array([0, 1, 2, 0, 1, 2])
    heads = torch.zeros(6, 2, 2, 4)
    heads[:, 1, 0] = text[torch.as_tensor(y)]  # L1H0 writes the class text
    direct = Direct(torch.zeros(6, 4), heads, torch.zeros(6, 2, 4), torch.zeros(6, 4))
    labels = {"color": y}
    gates = Gates(0.5)
    loss, rec = routing_loss(direct, labels, np.full(6, ""), {"color": text}, {"color": ((1, 0),)},
                             scale=20.0, penalty=1.0, gates=gates)
    assert rec["color/acc"] == 1.0 and rec["color/gate"] == 1 and rec["color/pen"] == 0.0
    assert rec["color/share"] == pytest.approx(1.0)
    heads[:, 0, 1] = heads[:, 1, 0]  # another head carries the same margin
    _, rec2 = routing_loss(direct, labels, np.full(6, ""), {"color": text}, {"color": ((1, 0),)},
                           scale=20.0, penalty=1.0, gates=gates)
    assert rec2["color/pen"] == pytest.approx(0.5, abs=1e-3) and rec2["color/share"] == pytest.approx(0.5)


def test_routing_needs_the_v2_world_and_a_fitting_assignment() -> None:
    with pytest.raises(SithError, match="world=v2"):
        tiny(world="v1", routing_weight=0.1, twin_factors=("shape",))
    with pytest.raises(SithError, match="outside"):
        tiny(routing_weight=0.1, routing_assignment="v2")
    with pytest.raises(SithError, match="routing_weight > 0"):
        tiny(routing_penalty=0.1)
    assert not tiny().routed and tiny(routing_weight=0.1).routed


def _log(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]


def test_a_routed_run_branches_lowers_its_routing_loss_and_records_the_assignment(tmp_path: Path) -> None:
    control = tiny(steps=60, checkpoint_every=60, snapshot_at=10, lr=3e-3)
    T.train(control, out_dir=tmp_path / "control", progress=False, until=10)
    snap = tmp_path / "control" / "checkpoint-10.pt"
    assert load_pt(snap)["step"] == 10
    routed = tiny(steps=60, checkpoint_every=60, snapshot_at=10, lr=3e-3, routing_weight=1.0,
                  routing_penalty=0.5, routing_start=10 / 60, routing_ramp=1, routing_gate=0.9)
    with pytest.raises(SithError, match="another recipe"):
        T.train(tiny(steps=60, lr=5e-3, routing_weight=1.0, routing_start=10 / 60), out_dir=tmp_path / "bad",
                progress=False, branch_from=snap)
    T.train(routed, out_dir=tmp_path / "routed", progress=False, branch_from=snap)
    state = load_pt(tmp_path / "routed" / T.CHECKPOINT_NAME)
    assert state["step"] == 60
    assert state["assignment"] == {"background": [[0, 0]], "color": [[1, 0]], "shape": [[1, 1]]}
    assert set(state["routing_state"]["ema"]) == {"background", "color", "shape"}
    rows = [r for r in _log(tmp_path / "routed") if "routing" in r]
    assert rows[-1]["routing"] < rows[0]["routing"] - 0.3
    # the MLP of the last block stays exactly zero through training
    for name, value in state["model"].items():
        if name.startswith("visual.transformer.resblocks.1.mlp"):
            assert not value.any(), name
    # the control resumes from its own checkpoint, without routing
    T.train(control, out_dir=tmp_path / "control", progress=False)
    assert "routing" not in json.dumps(_log(tmp_path / "control"))
    assert "assignment" not in load_pt(tmp_path / "control" / T.CHECKPOINT_NAME)


def test_cli_trains_a_routed_v2_run_from_a_branch(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from sith.cli import main

    sets = [x for k, v in TINY.items() for x in ("--set", f"{k}={json.dumps(v)}")]
    control = [*sets, "--set", "steps=6", "--set", "snapshot_at=2", "--set", "checkpoint_every=2"]
    assert main(["-q", "organism", "train", "--output-dir", str(tmp_path / "c"), *control]) == 0
    routed = [*control, "--set", "routing_weight=0.1", "--set", "routing_start=0.5"]
    args = ["-q", "organism", "train", "--output-dir", str(tmp_path / "r"), *routed, "--branch-from"]
    assert main([*args, str(tmp_path / "c" / "checkpoint-2.pt")]) == 0
    assert load_pt(tmp_path / "r" / T.CHECKPOINT_NAME)["step"] == 6
    capsys.readouterr()
    assert main(["-q", "organism", "train", "--output-dir", str(tmp_path / "r2"), *routed,
                 "--branch-from", str(tmp_path / "missing.pt")]) != 0
    err = capsys.readouterr().err
    assert "missing.pt" in err and "Traceback" not in err and not (tmp_path / "r2").exists()


def test_an_mlp_free_v2_model_loads_in_sith_like_any_organism(tmp_path: Path) -> None:
    from sith.load import load_clip
    from sith.organism.model import export_organism

    ckpt = T.train(tiny(steps=2, checkpoint_every=2), out_dir=tmp_path / "run", progress=False)
    path = export_organism(ckpt, out_dir=tmp_path / "export", tag="v1").with_suffix(".safetensors")
    clip = load_clip("sith-organism", str(path))
    state = load_pt(ckpt)
    model = T.build_model(state["model_config"])
    model.load_state_dict({k: v.half().float() for k, v in state["model"].items()})
    x = torch.rand(2, 3, 32, 32)
    expected = model.eval().encode_image(x)
    torch.testing.assert_close(clip.encode_images(x).float(), expected, rtol=1e-4, atol=1e-4)
