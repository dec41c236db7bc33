"""The explorer on real ``sith ground`` output: the organism, layer 5, 64 world images.

Decomposes layer 5, grounds it in 64 world images (in process, one model load), builds the
page and checks: every component has at most 6 thumbnails per sign, ordered by activation;
each world image is stored once and is the very image the model saw (re-rendered from
the recorded seed, compared with the grounding stream's pixels); folder and shard names are
read from their paths; foreign or mismatched groundings are refused or left out; and in
Chromium a head shows both rows of thumbnails with patch maps, without console errors.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import re
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sith.cli import main
from sith.errors import SithError
from sith.explore import build_explorer
from sith.explore.grounded import ImageFinder
from sith.ground import ImageSource, ground, load_grounding, save_grounding
from sith.ground.save import grounding_dir
from sith.ground.sources import stream
from sith.io import save_pt
from sith.load.clip import load_clip

LAYER, N_IMAGES = 5, 64


def page_json(path: Path) -> dict:
    text = path.read_text()
    block = re.search(r'<script type="application/json" id="sith-data">(.*?)</script>', text, re.S)
    assert block is not None
    return json.loads(block.group(1))


def pixels(uri: str) -> np.ndarray:
    with Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))) as im:
        return np.asarray(im.convert("RGB"), dtype=np.float32)


@pytest.fixture(scope="module")
def grounded(tmp_path_factory) -> dict:
    data = tmp_path_factory.mktemp("data")
    assert main(["decompose", "--layers", str(LAYER), "--data-dir", str(data), "-q"]) == 0
    clip = load_clip()
    source = ImageSource(world=N_IMAGES)
    g = ground(clip, source, layers=[LAYER], progress=False)
    folder = grounding_dir(data, clip.info, g.source)
    save_grounding(g, folder, grids=False)
    batch = next(stream(ImageSource(world=N_IMAGES), clip, N_IMAGES))
    mean = np.asarray(clip.image_mean, dtype=np.float32)[:, None, None]
    std = np.asarray(clip.image_std, dtype=np.float32)[:, None, None]
    seen = (batch.pixels.numpy() * std + mean).clip(0, 1) * 255  # (n, 3, S, S) what the model saw
    page = build_explorer(data_dir=data, output=data / "sith.html", progress=False)
    return {"data": data, "folder": folder, "page": page, "seen": seen, "size": clip.image_size}


def test_page_holds_every_component_with_both_signs(grounded):
    d = page_json(grounded["page"])
    record = load_grounding(grounded["folder"] / f"layer-{LAYER:02d}.pt")
    H, r = record["index"].shape[1:3]
    assert set(d["grounding"]) == {f"{LAYER}-{h}-{i}" for h in range(H) for i in range(r)}
    assert 0 < len(d["gimages"]) <= N_IMAGES
    for key, images in d["grounding"].items():
        h, i = map(int, key.split("-")[1:])
        for s, sign in enumerate((1, -1)):
            row = [im for im in images if im["sign"] == sign]
            assert len(row) == 6
            scores = [im["score"] for im in row]
            assert scores == sorted(scores, reverse=sign > 0)
            assert scores[0] == pytest.approx(float(record["values"][s, h, i, 0]), abs=1e-3)
            assert all(len(im["heat"]) == 64 and max(int(c, 36) for c in im["heat"]) <= 35 for im in row)
        peaks = [max(int(c, 36) for c in im["heat"]) for im in images]  # scaled per image
        assert set(peaks) <= {0, 35} and peaks.count(35) >= len(images) - 1
        assert min(im["score"] for im in images if im["sign"] == 1) >= max(
            im["score"] for im in images if im["sign"] == -1
        )
        assert all(im["label"].count(" on ") == 1 for im in images)


def test_world_thumbnails_are_the_images_the_model_saw(grounded):
    d = page_json(grounded["page"])
    record = load_grounding(grounded["folder"] / f"layer-{LAYER:02d}.pt")
    names = record["images"]
    checked = 0
    for images in list(d["grounding"].values())[:4]:
        for im in images[:2]:
            thumb = pixels(d["gimages"][im["img"]])
            # find which world image this is: the one whose pixels match best must be unique
            errs = [np.abs(thumb - grounded["seen"][j].transpose(1, 2, 0)).mean() for j in range(N_IMAGES)]
            best = int(np.argmin(errs))
            assert errs[best] < 10.0 and sorted(errs)[1] > 2 * errs[best]  # lossy WebP/JPEG: ~7 grey levels
            assert f"world:{best}" in names
            checked += 1
    assert checked == 8 and grounded["size"] == 64  # organism input: no resize between the two
    finder = ImageFinder(record["config"]["source"])
    for name in names:  # before JPEG: the re-rendered picture is exactly the one the model saw
        j = int(name.split(":")[1])
        diff = np.abs(np.asarray(finder(name), dtype=np.float32) - grounded["seen"][j].transpose(1, 2, 0))
        assert diff.max() <= 1.0


def test_folder_and_shard_names_are_read_from_their_paths(grounded, tmp_path):
    finder = ImageFinder(f"world-{N_IMAGES}-seed0-train")
    wide = Image.new("RGB", (96, 64), (0, 0, 0))
    wide.paste(finder("world:3"), (16, 0))
    wide.save(tmp_path / "a.png")
    buf = io.BytesIO()
    finder("world:7").save(buf, format="PNG")
    with tarfile.open(tmp_path / "s.tar", "w") as tar:
        info = tarfile.TarInfo("k1.png")
        info.size = len(buf.getvalue())
        tar.addfile(info, io.BytesIO(buf.getvalue()))
    files = ImageFinder(str(tmp_path))
    got = files(str(tmp_path / "a.png"))
    assert got.size == (64, 64) and np.array_equal(np.asarray(got), np.asarray(finder("world:3")))
    shard = files(f"{tmp_path / 's.tar'}:k1.png")
    assert np.array_equal(np.asarray(shard), np.asarray(finder("world:7")))
    assert files(str(tmp_path / "gone.png")) is None and files(f"{tmp_path / 's.tar'}:k2.png") is None
    files.close()


def test_foreign_or_mismatched_grounding(grounded, tmp_path, caplog):
    record = load_grounding(grounded["folder"] / f"layer-{LAYER:02d}.pt")
    foreign = dict(
        record, config=dict(record["config"], model=dict(record["config"]["model"], fingerprint="beef"))
    )
    save_pt(foreign, tmp_path / "foreign" / f"layer-{LAYER:02d}.pt")
    with pytest.raises(SithError, match="grounds another model"):
        build_explorer(data_dir=grounded["data"], grounding=tmp_path / "foreign", output=tmp_path / "x.html")
    assert not (tmp_path / "x.html").exists()
    shifted = dict(record, singular_values=record["singular_values"] * 1.1)
    save_pt(shifted, tmp_path / "shifted" / f"layer-{LAYER:02d}.pt")
    with caplog.at_level(logging.WARNING):
        out = build_explorer(
            data_dir=grounded["data"],
            grounding=tmp_path / "shifted",
            output=tmp_path / "y.html",
            progress=False,
        )
    assert page_json(out)["grounding"] == {} and "singular values differ" in caplog.text
    (tmp_path / "empty").mkdir()
    with pytest.raises(SithError, match="no sith ground output"):
        build_explorer(data_dir=grounded["data"], grounding=tmp_path / "empty", output=tmp_path / "z.html")


def test_browser_shows_both_rows_with_patch_maps(page, grounded, shots):
    page.goto(grounded["page"].as_uri() + f"#L{LAYER}H3C0")
    page.wait_for_selector("html[data-ready='1']")
    page.wait_for_selector("#c0 .thumbs")
    for sign in "+-":
        row = page.locator(f'#c0 .thumbs[data-sign="{sign}"]')
        assert row.locator(".thumb").count() == 6
        assert row.locator(".thumb canvas").count() == 6
    assert page.locator("#c0 .thumb.neg").count() == 6
    assert page.evaluate(
        "[...document.querySelectorAll('#c0 .thumb img')].every(i => i.complete && i.naturalWidth === 64)"
    )
    box = page.locator("#c0 .thumb").first.bounding_box()
    assert box["width"] == pytest.approx(72, abs=1) and box["height"] == pytest.approx(72, abs=1)
    title = page.locator("#c0 .thumb").first.get_attribute("title")
    assert title.startswith("top image, activation") and " on " in title
    page.locator("#c0").scroll_into_view_if_needed()
    page.screenshot(path=str(shots / "explore-grounding.png"))


def test_grounding_given_as_folder_summary_or_layer_file(grounded, tmp_path):
    want = page_json(grounded["page"])["grounding"]
    for given in (
        grounded["folder"],
        grounded["folder"] / "summary.json",
        grounded["folder"] / "layer-05.pt",
    ):
        out = build_explorer(
            data_dir=grounded["data"], grounding=given, output=tmp_path / "g.html", progress=False
        )
        assert page_json(out)["grounding"] == want
