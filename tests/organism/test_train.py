"""Organism training: config validation, loss goes down, checkpoints survive interrupts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import sith.organism.train as T
from sith.errors import SithError
from sith.io import load_pt

TINY = dict(image_size=32, patch_size=8, vision_width=32, vision_layers=1, vision_heads=2,
            text_width=32, text_layers=1, text_heads=2, context_length=16, embed_dim=16,
            batch_size=16, warmup=1, threads=1)


def tiny(**kw: object) -> T.TrainConfig:
    return T.TrainConfig(**{**TINY, **kw})  # type: ignore[arg-type]


@pytest.mark.parametrize("bad,match", [
    (dict(vision_layers=0), "vision_layers"),
    (dict(text_layers=0), "text_layers"),
    (dict(vision_width=30, vision_heads=4), "not divisible by vision_heads"),
    (dict(text_width=30, text_heads=4), "not divisible by text_heads"),
    (dict(batch_size=1), "batch_size"),
    (dict(image_size=36, patch_size=8), "patch"),
    (dict(hard_negative_frac=0.9), "hard_negative_frac"),
    (dict(lr=0.0), "lr"),
    (dict(caption_rates={"shape": 0.9}), "caption_rates keys"),
    (dict(caption_rates={"size": 1.5}), "probabilities"),
])
def test_bad_configs_raise_one_line_sith_error(bad: dict, match: str) -> None:
    with pytest.raises(SithError, match=match) as info:
        tiny(**bad)
    assert "\n" not in str(info.value)


def test_from_dict_rejects_unknown_fields() -> None:
    with pytest.raises(SithError, match="unknown TrainConfig fields"):
        T.TrainConfig.from_dict({"steps": 3, "depth": 2})
    assert T.TrainConfig.from_dict(tiny().to_dict()) == tiny()


def test_make_batch_is_deterministic_with_hard_negatives() -> None:
    c = tiny(hard_negative_frac=0.25)
    im1, cap1, pos1 = T.make_batch(c, 3)
    im2, cap2, pos2 = T.make_batch(c, 3)
    np.testing.assert_array_equal(im1, im2)
    assert cap1 == cap2 and (pos1 == pos2).all()
    assert im1.shape == (16, 3, 32, 32) and pos1.shape == (16, 16) and pos1.diagonal().all()
    h = 4  # twins are the last h images; their originals the first h; captions differ
    for i in range(h):
        assert not pos1[i, 16 - h + i] and not pos1[16 - h + i, i]


def test_twins_differ_in_exactly_one_chosen_factor() -> None:
    from sith.organism.world import sample_labels

    factors = ("shape", "size", "position")
    rng = np.random.default_rng(0)
    base = sample_labels(40, rng, bird=-1)
    twin = T._twins(base, 20, factors, rng)
    diff = np.stack([twin[f] != base[f][:20] for f in ("shape", "color", "size", "position",
                                                       "background", "count")], axis=1)
    assert (diff.sum(1) == 1).all()
    assert not diff[:, [1, 4, 5]].any()
    with pytest.raises(SithError, match="twin_factors"):
        tiny(twin_factors=("mood",))


def test_multi_positive_loss_prefers_matching_pairs() -> None:
    torch.manual_seed(0)
    f = torch.nn.functional.normalize(torch.randn(6, 8), dim=-1)
    pos = torch.eye(6)
    scale = torch.tensor(np.log(10.0))
    good = T.multi_positive_loss(f, f, scale, pos)
    bad = T.multi_positive_loss(f, f.roll(1, 0), scale, pos)
    assert good < bad
    # a second positive lowers the loss if its text matches the image
    pos2 = pos.clone()
    pos2[0, 1] = pos2[1, 0] = 1
    assert torch.isfinite(T.multi_positive_loss(f, f, scale, pos2))


def _losses(out: Path) -> list[float]:
    import json

    return [json.loads(line)["loss"] for line in (out / "log.jsonl").read_text().splitlines()]


def test_a_few_steps_lower_the_loss(tmp_path: Path) -> None:
    c = tiny(steps=30, lr=3e-3, checkpoint_every=30, hard_negative_frac=0.0)
    T.train(c, out_dir=tmp_path, progress=False)
    # same batch before and after: evaluate the loss of batch 0 with the final weights
    state = load_pt(tmp_path / T.CHECKPOINT_NAME)
    assert state["step"] == 30

    def batch_loss(sd: dict | None) -> float:
        torch.manual_seed(c.seed)
        model = T.build_model(T.model_config(c))
        if sd is not None:
            model.load_state_dict(sd)
        images, caps, pos = T.make_batch(c, 0)
        mean = torch.tensor(state["image_mean"]).view(1, 3, 1, 1)
        std = torch.tensor(state["image_std"]).view(1, 3, 1, 1)
        with torch.no_grad():
            fi = torch.nn.functional.normalize(
                model.encode_image((torch.from_numpy(images) - mean) / std), dim=-1)
            ft = torch.nn.functional.normalize(
                model.encode_text(T.tokenize(caps, c.context_length)), dim=-1)
            return float(T.multi_positive_loss(fi, ft, model.logit_scale,
                                               torch.from_numpy(pos).float()))

    assert batch_loss(state["model"]) < batch_loss(None) - 0.2


def test_resume_continues_and_matches_uninterrupted(tmp_path: Path) -> None:
    c = tiny(steps=4, checkpoint_every=2)
    T.train(c, out_dir=tmp_path / "full", progress=False)
    full = load_pt(tmp_path / "full" / T.CHECKPOINT_NAME)

    calls = {"n": 0}
    real = T.make_training_batch

    def interrupting(config: T.TrainConfig, step: int):  # noqa: ANN202
        calls["n"] += 1
        if step == 3:
            raise KeyboardInterrupt
        return real(config, step)

    T.make_training_batch = interrupting  # type: ignore[assignment]
    try:
        with pytest.raises(KeyboardInterrupt):
            T.train(c, out_dir=tmp_path / "cut", progress=False)
    finally:
        T.make_training_batch = real  # type: ignore[assignment]
    kept = load_pt(tmp_path / "cut" / T.CHECKPOINT_NAME)
    assert kept["step"] == 2  # the last good checkpoint is intact
    T.train(c, out_dir=tmp_path / "cut", progress=False)  # resumes at step 2
    resumed = load_pt(tmp_path / "cut" / T.CHECKPOINT_NAME)
    assert resumed["step"] == 4
    for k, v in full["model"].items():
        torch.testing.assert_close(resumed["model"][k], v, rtol=1e-4, atol=1e-5)


def test_interrupt_during_checkpoint_write_keeps_previous(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    c = tiny(steps=2, checkpoint_every=2)
    T.train(c, out_dir=tmp_path, progress=False)
    before = (tmp_path / T.CHECKPOINT_NAME).read_bytes()
    c4 = tiny(steps=4, checkpoint_every=2)

    def dying_save(obj: object, f: object) -> None:  # sith.io.save_pt passes an open file
        if hasattr(f, "write"):
            f.write(b"half a checkpoint")
        else:
            Path(str(f)).write_bytes(b"half a checkpoint")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", dying_save)
    with pytest.raises((KeyboardInterrupt, SithError)):
        T.train(c4, out_dir=tmp_path / "other", progress=False)
    monkeypatch.undo()
    assert (tmp_path / T.CHECKPOINT_NAME).read_bytes() == before
    assert not (tmp_path / "other" / T.CHECKPOINT_NAME).exists()
    assert not list((tmp_path / "other").glob("*.tmp"))


def test_resume_with_another_config_is_refused(tmp_path: Path) -> None:
    T.train(tiny(steps=2, checkpoint_every=2), out_dir=tmp_path, progress=False)
    with pytest.raises(SithError, match="another TrainConfig"):
        T.train(tiny(steps=2, checkpoint_every=2, lr=5e-3), out_dir=tmp_path, progress=False)


def test_export_then_build_round_trip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sith.organism.model as M

    c = tiny(steps=2, checkpoint_every=2)
    ckpt = T.train(c, out_dir=tmp_path / "run", progress=False)
    assets = tmp_path / "assets"
    M.export_organism(ckpt, out_dir=assets, measured={"factor_accuracy": {}}, measured_by="test")
    (assets / M.POOL_FILE).write_text("circle\n")
    monkeypatch.setattr(M, "ASSET_DIR", assets)
    model = M.build_organism()
    assert not model.training
    assert all(p.dtype == torch.float32 for p in model.parameters())
    sith_cfg = M.organism_config()["sith"]
    assert sith_cfg["steps"] == 2 and T.TrainConfig.from_dict(sith_cfg["train_config"]) == c
    state = load_pt(ckpt)["model"]
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, state[k].half().float())
    random = M.build_organism(pretrained=False)
    assert set(random.state_dict()) == set(state)


def test_missing_assets_raise_sith_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sith.organism.model as M

    with pytest.raises(SithError, match="unknown organism asset"):
        M.asset_path("weights.bin")
    monkeypatch.setattr(M, "ASSET_DIR", tmp_path)
    with pytest.raises(SithError, match="missing"):
        M.build_organism()


def test_caption_rates_change_what_captions_name() -> None:
    """Default (empty) rates draw exactly v1's batches; raised rates name size more often."""
    base = tiny(batch_size=64, hard_negative_frac=0.0)
    same = T.make_batch(tiny(batch_size=64, hard_negative_frac=0.0, caption_rates={}), 3)
    assert T.make_batch(base, 3)[1] == same[1]
    sizes = ("small", "medium", "large", "tiny", "little", "big", "huge", "mid-sized")

    def share(config: T.TrainConfig) -> float:
        caps = [c for step in range(4) for c in T.make_batch(config, step)[1]]
        return float(np.mean([any(w in c.split() for w in sizes) for c in caps]))

    never = tiny(batch_size=64, hard_negative_frac=0.0, caption_rates={"size": 0.0})
    always = tiny(batch_size=64, hard_negative_frac=0.0, caption_rates={"size": 1.0})
    assert share(never) == 0.0 and share(always) == 1.0
    assert 0.3 < share(base) < 0.7
    assert T.TrainConfig.from_dict(always.to_dict()) == always


def test_init_from_starts_at_the_given_weights(tmp_path: Path) -> None:
    import sith.organism.model as M

    first = T.train(tiny(steps=2, checkpoint_every=2), out_dir=tmp_path / "a", progress=False)
    warm = tiny(steps=1, checkpoint_every=1, lr=1e-12, warmup=0)
    M.export_organism(first, out_dir=tmp_path / "export")
    exported = tmp_path / "export" / M.WEIGHTS_FILE
    for source in (first, exported):
        out = tmp_path / f"b-{source.suffix}"
        state = load_pt(T.train(warm, out_dir=out, progress=False, init_from=source))
        start = load_pt(first)["model"]
        for k, v in start.items():  # lr ~ 0: the weights are where the warm start put them
            tol = 2e-3 if source.suffix == ".safetensors" else 1e-6
            torch.testing.assert_close(state["model"][k], v, rtol=tol, atol=tol)
        assert state["init_from"] and state["image_mean"] == load_pt(first)["image_mean"]
    with pytest.raises(SithError, match="does not match"):
        T.train(tiny(steps=1, vision_width=64), out_dir=tmp_path / "c", progress=False,
                init_from=first)


def test_exports_and_checkpoints_carry_their_format_tags(tmp_path: Path) -> None:
    """Issue 23: the checkpoint and the exported json are tagged and read by the tag; an older
    untagged checkpoint still loads, an older untagged export is refused with one line."""
    import json

    import sith.organism.model as M
    from sith.load import load_clip

    ckpt = T.train(tiny(steps=2, checkpoint_every=2), out_dir=tmp_path / "run", progress=False)
    state = load_pt(ckpt)
    assert state["format"] == "sith-organism-checkpoint/1"
    old = tmp_path / "old.pt"  # a checkpoint of an earlier sith: the same keys, no tag
    torch.save({k: v for k, v in state.items() if k != "format"}, old)
    meta = M.export_organism(old, out_dir=tmp_path / "export", tag="v9")
    cfg = json.loads(meta.read_text())
    assert cfg["sith"]["format"] == "sith-organism/1" and "format" not in cfg  # top level: open_clip's
    weights = meta.with_suffix(".safetensors")
    assert load_clip("sith-organism", str(weights)).weights.n_heads == 2  # built from its own json
    del cfg["sith"]["format"]
    meta.write_text(json.dumps(cfg))
    for load in (lambda: load_clip("sith-organism", str(weights)),
                 lambda: T.train(tiny(steps=1), out_dir=tmp_path / "b", progress=False, init_from=weights)):
        with pytest.raises(SithError, match="older `sith organism export`.*export the checkpoint again") as e:
            load()
        assert "\n" not in str(e.value)
    cfg["sith"]["format"] = "sith-organism/7"
    meta.write_text(json.dumps(cfg))
    with pytest.raises(SithError, match="organism format 'sith-organism/7'"):
        load_clip("sith-organism", str(weights))
    foreign = tmp_path / "foreign.pt"
    torch.save({"format": "sith-decomposition/1", "model": {}}, foreign)
    with pytest.raises(SithError, match="not an organism training checkpoint"):
        M.export_organism(foreign, out_dir=tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_shipped_config_is_tagged() -> None:
    """The shipped json was re-tagged (weights untouched); its reader checks the tag."""
    import sith.organism.model as M

    assert M.organism_config()["sith"]["format"] == "sith-organism/1"


def test_routed_variants_and_their_controls():
    from sith.organism.trainconfig import ASSIGNMENTS, V2_TWINS, run_folder, v2_config

    assert run_folder("control", 1, "v2-nobird") == run_folder("control", 1) == "control-s1"
    assert run_folder("routed", 1) == "routed-s1"
    assert run_folder("routed", 1, "v2-nobird") == "routed-v2-nobird-s1"
    # natural birds: other batches, so its own control
    assert run_folder("control", 1, "v2-natural-birds") == "control-v2-natural-birds-s1"
    assert "bird" not in ASSIGNMENTS["v2-nobird"]
    assert {f: h for f, h in ASSIGNMENTS["v2"].items() if f != "bird"} == ASSIGNMENTS["v2-nobird"]
    natural = v2_config(0, routed=True, variant="v2-natural-birds")
    assert natural.routing_assignment == "v2-nobird" and "bird" not in natural.twin_factors
    assert v2_config(0, routed=False).twin_factors == V2_TWINS
    few = v2_config(0, routed=False, variant="v2-few-bird-twins").twin_factors
    assert few.count("bird") / len(few) == 2 / 32
    assert run_folder("control", 0, "v2-few-bird-twins") == "control-v2-few-bird-twins-s0"
    assert v2_config(0, routed=True).routing_assignment == "v2"
