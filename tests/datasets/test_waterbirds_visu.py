import csv
import json

import pytest
from PIL import Image

from sith.datasets import load_visu, load_waterbirds
from sith.datasets.fixtures import write_visu, write_waterbirds
from sith.errors import SithError


@pytest.fixture
def wb(tmp_path):
    return write_waterbirds(tmp_path / "wb", per_group=2)


def test_waterbirds_test_split_groups(wb):
    ds = load_waterbirds(wb, "test")
    assert len(ds) == 8 and ds.class_names == ("landbird", "waterbird")
    assert ds.group_names == (
        "landbird on land",
        "landbird on water",
        "waterbird on land",
        "waterbird on water",
    )
    assert ds.groups().tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    assert ds.labels().tolist() == [0, 0, 0, 0, 1, 1, 1, 1]
    images = list(ds.images())
    assert len(images) == 8 and isinstance(images[0][0], Image.Image) and images[0][0].mode == "RGB"
    water = images[2][0].getpixel((0, 0))
    assert water[2] > water[1]  # water background is blue, as drawn
    # the folder itself works as root too, and other splits select other rows
    assert len(load_waterbirds(wb / "waterbird_complete95_forest2water2", "train")) == 8
    assert {s.fields["img_id"] for s in ds.samples}.isdisjoint(
        {s.fields["img_id"] for s in load_waterbirds(wb, "val").samples}
    )


def test_waterbirds_wrong_layout_and_columns(tmp_path, wb):
    with pytest.raises(SithError, match="metadata.csv"):
        load_waterbirds(tmp_path / "nothing")
    meta = wb / "waterbird_complete95_forest2water2" / "metadata.csv"
    rows = list(csv.reader(meta.open()))
    with meta.open("w", newline="") as f:
        csv.writer(f).writerows([[c for j, c in enumerate(r) if j != 4] for r in rows])
    with pytest.raises(SithError, match="lacks column.*place"):
        load_waterbirds(wb)
    rows[1][2] = "bird"
    with meta.open("w", newline="") as f:
        csv.writer(f).writerows(rows)
    with pytest.raises(SithError, match="column y is 'bird'"):
        load_waterbirds(wb, "train")
    with pytest.raises(SithError, match="split"):
        load_waterbirds(wb, "dev")


def test_unreadable_image_error_or_skip(wb, caplog):
    ds = load_waterbirds(wb, "test")
    ds.samples[1].path.write_bytes(b"not a jpeg")
    ds.samples[3].path.unlink()
    with pytest.raises(SithError, match="cannot read image") as err:
        list(ds.images())
    assert "\n" not in str(err.value)
    kept = [s.fields["img_id"] for _, s in ds.images(skip_unreadable=True)]
    assert len(kept) == 6 and ds.samples[1].fields["img_id"] not in kept
    assert caplog.text.count("skipped") == 2


def test_visu_pairs_and_images(tmp_path):
    root = write_visu(tmp_path / "v", n=4)
    ds = load_visu(root, "test")
    assert len(ds) == 4
    p = ds.pairs[2]
    assert p.safe_image == root / "visu" / "coco_images" / f"{p.coco_id}.jpg"
    assert p.unsafe_image == root / "visu" / "test" / f"{p.incremental_id}.jpg"
    assert "skull" in ds.nsfw_captions()[0] and "skull" not in ds.safe_captions()[0]
    safe, unsafe = ds.safe_images(), ds.unsafe_images()
    assert safe.labels().tolist() == [0, 1, 2, 3] == unsafe.labels().tolist()
    assert len(list(safe.images())) == 4 and len(list(unsafe.images())) == 4
    assert load_visu(root / "visu", "test").pairs == ds.pairs


def test_visu_zero_padded_coco_names(tmp_path):
    root = write_visu(tmp_path / "v", n=1)
    p = load_visu(root).pairs[0]
    padded = p.safe_image.with_name(f"{int(p.coco_id):012d}.jpg")
    p.safe_image.rename(padded)
    assert load_visu(root).pairs[0].safe_image == padded


def test_visu_bad_layouts(tmp_path):
    root = write_visu(tmp_path / "v", n=2)
    with pytest.raises(SithError, match="train.json"):
        load_visu(root, "train")
    f = root / "visu" / "test.json"
    entries = json.loads(f.read_text())
    del entries[1]["nsfw"]
    f.write_text(json.dumps(entries))
    with pytest.raises(SithError, match="entry 1 lacks nsfw"):
        load_visu(root)
    f.write_text("{oops")
    with pytest.raises(SithError, match="not valid JSON"):
        load_visu(root)
    f.write_text(json.dumps({str(i): e for i, e in enumerate(json.loads(json.dumps(entries[:1])))}))
    assert len(load_visu(root)) == 1  # an object of entries is accepted
