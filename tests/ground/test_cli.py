"""``sith ground`` end to end (organism world, random ViT-B-32 on a folder / shard / list) and bad input."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from sith.cli import main
from sith.ground import load_grounding


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _png_bytes(seed: int, size: int = 40) -> bytes:
    rng = np.random.default_rng(seed)
    img = Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("imgs")
    for i in range(5):
        (d / f"img{i}.png").write_bytes(_png_bytes(i))
    return d


def test_world_on_the_organism(tmp_path, capsys):
    out = tmp_path / "g"
    code, stdout, err = run(
        capsys, "ground", "--world", "48", "--layers", "4", "5", "--top-k", "5", "--batch-size", "20",
        "--save-activations", "--grid-components", "1", "--grid-images", "3", "--output-dir", str(out), "-q",
    )
    assert code == 0, err
    assert (out / "summary.json").is_file() and len(list((out / "grids").glob("*.png"))) == 16
    rec = load_grounding(out / "layer-05.pt")
    acts = rec["activations"]
    assert acts.shape == (48, 8, 16) and rec["labels"]["color"].shape == (48,)
    # the kept top images are the true top images of the stored activations, both signs
    top = acts.permute(1, 2, 0).topk(5, dim=-1)
    torch.testing.assert_close(rec["values"][0], top.values)
    names = [rec["images"][int(j)] for j in rec["index"][0, 3, 2]]
    assert names == [f"world:{int(j)}" for j in top.indices[3, 2]]
    torch.testing.assert_close(rec["values"][1], -(-acts.permute(1, 2, 0)).topk(5, dim=-1).values)
    torch.testing.assert_close(rec["mean"], acts.mean(0), atol=1e-5, rtol=1e-4)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["config"]["images"] == 48 and summary["config"]["layers"] == [4, 5]


def test_random_vit_b32_folder_shard_and_list(folder, tmp_path, capsys):
    model = ["--model-name", "ViT-B-32", "--pretrained", "none", "--layers", "11", "--rank", "4"]
    out = tmp_path / "folder"
    code, _, err = run(capsys, "ground", *model, "--images", str(folder), "--top-k", "3",
                       "--grid-components", "1", "--grid-images", "2", "--output-dir", str(out), "-q")
    assert code == 0, err
    rec = load_grounding(out / "layer-11.pt")
    assert rec["patches"].shape == (2, 12, 4, 3, 49) and rec["patch_grid"] == [7, 7]
    assert len(list((out / "grids").glob("*.png"))) == 12
    shard = tmp_path / "shard.tar"
    with tarfile.open(shard, "w") as tar:
        for p in sorted(folder.glob("*.png"))[:3]:
            tar.add(p, arcname=p.name)
    code, _, err = run(capsys, "ground", *model, "--images", str(shard), "--no-grids",
                       "--output-dir", str(tmp_path / "tar"), "-q")
    assert code == 0, err
    assert load_grounding(tmp_path / "tar" / "layer-11.pt")["config"]["images"] == 3
    listing = tmp_path / "list.txt"
    listing.write_text(f"# two images\n{folder / 'img0.png'}\n\n{folder / 'img1.png'}\n")
    code, _, err = run(capsys, "ground", *model, "--images", str(listing), "--no-grids",
                       "--output-dir", str(tmp_path / "list"), "-q")
    assert code == 0, err
    rec = load_grounding(tmp_path / "list" / "layer-11.pt")
    assert rec["config"]["images"] == 2 and sorted(rec["images"])[0].endswith("img0.png")


def test_bad_input(folder, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = run(capsys, "ground", "--images", str(empty), "--output-dir", str(tmp_path / "o"), "-q")
    assert code == 2 and err.startswith("error: no images") and err.count("\n") == 1
    assert not (tmp_path / "o").exists()

    bad = tmp_path / "mixed"
    bad.mkdir()
    (bad / "a.png").write_bytes(_png_bytes(1))
    (bad / "b.png").write_bytes(b"not an image at all")
    code, _, err = run(capsys, "ground", "--images", str(bad), "--no-skip-bad", "--output-dir",
                       str(tmp_path / "o"), "-q")
    assert code == 2 and "cannot read image" in err and "pass --skip-bad" in err and err.count("\n") == 1
    assert not (tmp_path / "o").exists()
    # issue 26: skipping unreadable images is the default, as in `sith image-mean` (one flag, one default)
    code, _, err = run(capsys, "ground", "--images", str(bad), "--no-grids",
                       "--output-dir", str(tmp_path / "o"), "-q")
    assert code == 0, err
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["config"]["images"] == 1 and summary["config"]["skipped"] == 1

    only_bad = tmp_path / "only_bad"
    only_bad.mkdir()
    (only_bad / "b.png").write_bytes(b"junk")
    code, _, err = run(capsys, "ground", "--images", str(only_bad), "--skip-bad", "-q")
    assert code == 2 and "no readable images" in err

    listing = tmp_path / "missing.txt"
    listing.write_text(str(tmp_path / "nope.png") + "\n")
    code, _, err = run(capsys, "ground", "--images", str(listing), "-q")
    assert code == 2 and "nope.png" in err
    (tmp_path / "blank.txt").write_text("\n# nothing\n")
    code, _, err = run(capsys, "ground", "--images", str(tmp_path / "blank.txt"), "-q")
    assert code == 2 and "names no images" in err
    code, _, err = run(capsys, "ground", "--images", str(tmp_path / "does-not-exist"), "-q")
    assert code == 2 and "does not exist" in err
    for flags, msg in ((["--top-k", "0"], "--top must be >= 1"), (["--layers", "9"], "out of range"),
                       (["--rank", "99"], "rank 99")):
        code, _, err = run(capsys, "ground", "--world", "4", *flags, "-q")
        assert code == 2 and msg in err, err
    with pytest.raises(SystemExit):
        main(["ground", "--world", "4", "--images", str(folder)])
