"""Issue 26, rough edges a new user hit: refused runs leave the data folder exactly as it was
(even when warnings come before the error), one default for unreadable images, and more."""

from __future__ import annotations

from pathlib import Path

from sith.cli import main


def _listing(root: Path) -> set[str]:
    return {str(p.relative_to(root)) + ("/" if p.is_dir() else "") for p in root.rglob("*")}


def test_image_mean_of_only_corrupt_images_leaves_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "corrupt").mkdir()
    for name in ("a.png", "b.jpg"):
        (tmp_path / "corrupt" / name).write_bytes(b"not an image")
    before = _listing(tmp_path)
    assert main(["-q", "image-mean", "--images", "corrupt"]) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1].startswith("error: no readable images in corrupt (2 skipped)")
    assert _listing(tmp_path) == before  # no image_mean.progress/, no empty data/models/...


def test_one_skip_bad_flag_and_default_for_every_image_command():
    import inspect

    from sith.api import ground
    from sith.cli import build_parser
    from sith.encode.images import compute_image_mean
    from sith.encode.sources import SKIP_BAD_DEFAULT
    from sith.ground.sources import ImageSource
    from sith.pipeline.encoding import image_mean

    for fn in (compute_image_mean, image_mean, ground):
        assert inspect.signature(fn).parameters["skip_bad"].default is SKIP_BAD_DEFAULT, fn
    assert ImageSource(world=1).skip_bad is SKIP_BAD_DEFAULT
    parser = build_parser()
    for argv in (["image-mean", "--images", "x"], ["ground", "--images", "x"]):
        assert parser.parse_args(argv).skip_bad is None  # not given: the library's default
        assert parser.parse_args([*argv, "--no-skip-bad"]).skip_bad is False
        assert parser.parse_args([*argv, "--skip-bad"]).skip_bad is True


def test_ground_grid_labels_are_full_words_wrapped_to_the_cell():
    """Regression: labels were cut to 5 letters ("trian", "purpl")."""
    from types import SimpleNamespace

    import numpy as np
    from PIL import ImageFont

    from sith.ground.grids import label_words, wrap_words
    from sith.organism.world import FACTORS

    def idx(key, value):
        return np.array([FACTORS[key].index(value)])

    labels = {"color": idx("color", "purple"), "shape": idx("shape", "triangle"),
              "size": idx("size", "medium"), "background": idx("background", "forest"),
              "unsafe": np.array([1])}
    words = label_words(SimpleNamespace(labels=labels), 0)
    assert words == ["purple", "triangle", "medium", "forest", "skull"]
    font = ImageFont.load_default(size=9)
    lines = wrap_words(words, font, 60)
    assert len(lines) > 1 and " ".join(lines).split() == words  # nothing cut, only wrapped
    assert all(font.getlength(line) <= 60 or " " not in line for line in lines)


def test_lasso_and_layers_show_progress_on_stderr(monkeypatch, capsys, tmp_path):
    """Regression: a lasso solve ran minutes with no sign of life."""
    import torch
    import torch.nn.functional as F

    import sith.api as sith
    from sith.decompose import options, solve

    monkeypatch.setattr(options, "PROGRESS_DELAY_S", 0.0)
    g = torch.Generator().manual_seed(0)
    targets = F.normalize(torch.randn(6, 16, generator=g), dim=1)
    atoms = F.normalize(torch.randn(40, 16, generator=g), dim=1)
    quiet = solve(targets, atoms, 3, method="lasso")
    assert capsys.readouterr().err == ""  # off by default (library calls)
    loud = solve(targets, atoms, 3, method="lasso", progress=True)
    assert "lasso ADMM, 6 targets" in capsys.readouterr().err
    assert torch.equal(quiet.indices, loud.indices)  # progress changes nothing computed
    sith.decompose(layers=[5], rank=2, method="lasso", data_dir=tmp_path, progress=True)
    err = capsys.readouterr().err
    assert "layer 5 lasso" in err and "head" in err and "lasso ADMM" in err


def test_organism_eval_tables_have_legends():
    """Regression: `sith organism eval` printed columns with no explanation."""
    from sith.organism.world import FACTORS
    from sith.organism_eval.faithfulness import format_faithfulness
    from sith.organism_eval.validation import GROUNDED, format_grounded

    block = {"rows": {"trained": {"count": 3, **dict.fromkeys(GROUNDED, 0.5), "mean_precision": 0.5,
                                  "mean_base_rate": 0.2}},
             "separates": dict.fromkeys(GROUNDED, False)}
    text = format_grounded({"n_images": 10, "image_seed": 1, "share": 0.5, "auc_good": 0.75,
                            "rules": {"top": block}})
    for column in ("n:", "mean AUC:", "AUC>=:", "prec@20:", "base:", "lift:", "g-recall:"):
        assert column in text, column
    text = format_faithfulness([{"condition": "original", "cos_to_original": 1.0,
                                 "accuracy": dict.fromkeys(FACTORS, 1.0)}])
    assert "background" in text.splitlines()[0] and "# cos:" in text  # full factor names


def test_concepts_longer_than_the_text_context_warn_once(tmp_path, caplog):
    """Regression: a long concept was silently cut to the tower's context (77 tokens; the
    organism's: 32). Now one warning with the count; an absurd line (> 1000 characters) is
    refused by every command (tests/test_bad_inputs.py)."""
    import logging

    import sith.api as sith
    from sith.encode import encode_pool, read_pool

    pool = tmp_path / "long.txt"
    pool.write_text("water\nland\n" + " ".join(["red"] * 40) + "\n" + " ".join(["blue"] * 29) + "\n")
    clip = sith.load_model(None, None)
    caplog.set_level(logging.WARNING, logger="sith")
    encode_pool(clip, read_pool(str(pool), data_dir=tmp_path), data_dir=None, progress=False)
    warned = [r.getMessage() for r in caplog.records if "context" in r.getMessage()]
    assert warned == ["1 of 4 concepts are longer than the text tower's context (32 tokens) and are "
                      "encoded cut to it; shorten them for explanations of what they say"]


def test_missing_image_mean_fails_before_a_dictionary_download(tmp_path, monkeypatch):
    """A model without an image mean (not the organism, which makes its own) is refused
    before the seed's dictionary is downloaded (conceptnet: ~475 MB) or anything written."""
    import pytest

    import sith.api as sith
    from sith import plugins
    from sith.errors import SithError
    from sith.pipeline import DecompositionConfig, Workspace
    from sith.pipeline import store as store_module

    def no_download(*a, **k):  # noqa: ANN002, ANN003
        raise AssertionError("downloaded a dictionary before checking the image mean")

    monkeypatch.setattr(store_module, "fetch_dictionary", no_download)
    clip = sith.load_model(None, None)
    plugins.use([])  # the organism without its plugin entry: no image-mean source
    try:
        ws = Workspace(clip, data_dir=tmp_path, progress=False)
    finally:
        plugins.reset()
    assert ws.image_mean_source is None
    request = DecompositionConfig("sith-organism", "v1", layers=(5,), dictionary="conceptnet")
    with pytest.raises(SithError, match="no image mean"):
        ws.resolve(request)
    assert list(tmp_path.iterdir()) == []
