import pytest
import torchvision.datasets as tvd

from sith.datasets import (
    flowers102_class_names,
    load_classification,
    load_dtd,
    load_fgvc_aircraft,
    load_flowers102,
    load_imagefolder,
)
from sith.datasets.fixtures import write_dtd, write_fgvc_aircraft, write_flowers102, write_imagefolder
from sith.errors import SithError


def test_flowers_names_match_torchvision():
    names = flowers102_class_names()
    assert len(names) == 102 and len(set(names)) == 102
    tv = getattr(tvd.Flowers102, "classes", None)
    if tv is None:
        pytest.skip("this torchvision has no Flowers102.classes")
    diff = [(a, b) for a, b in zip(names, tv) if a != b]
    assert diff == [("pink-yellow dahlia", "pink-yellow dahlia?")]


def test_flowers102_layout(tmp_path):
    root = write_flowers102(tmp_path, labels=(0, 5, 101), per_split=2)
    ds = load_flowers102(root, "test")
    assert ds.labels().tolist() == [0, 0, 5, 5, 101, 101]
    assert ds.class_names[101] == "blackberry lily"
    assert all(s.path.parent.name == "jpg" and s.path.name.startswith("image_") for s in ds.samples)
    assert len(list(ds.images())) == 6
    assert {s.fields["image_id"] for s in ds.samples}.isdisjoint(
        {s.fields["image_id"] for s in load_flowers102(root, "train").samples}
    )
    (root / "flowers-102" / "setid.mat").unlink()
    with pytest.raises(SithError, match="setid.mat"):
        load_flowers102(root)


def same_as_torchvision(ours, theirs):
    assert list(ours.class_names) == list(theirs.classes)
    assert ours.labels().tolist() == [theirs[i][1] for i in range(len(theirs))]


def test_dtd_matches_torchvision(tmp_path):
    root = write_dtd(tmp_path, per_split=2)
    for split in ("train", "test"):
        same_as_torchvision(load_dtd(root, split), tvd.DTD(str(root), split=split, download=False))
    assert len(list(load_dtd(root).images())) == 6
    with pytest.raises(SithError, match="test2.txt"):
        load_dtd(root, "test", partition=2)


def test_fgvc_matches_torchvision(tmp_path):
    root = write_fgvc_aircraft(tmp_path, per_split=2)
    for split in ("trainval", "test"):
        ours = load_fgvc_aircraft(root, split)
        same_as_torchvision(ours, tvd.FGVCAircraft(str(root), split=split, download=False))
    assert ours.class_names[2] == "Cessna 172"
    (root / "fgvc-aircraft-2013b" / "data" / "images_variant_test.txt").write_text("123 Nope 1\n")
    with pytest.raises(SithError, match="'Nope 1'"):
        load_fgvc_aircraft(root, "test")


def test_imagefolder(tmp_path):
    root = write_imagefolder(tmp_path / "imgs", per_class=2)
    ds = load_imagefolder(root)
    assert ds.class_names == ("golden retriever", "tabby cat")
    assert ds.labels().tolist() == [0, 0, 1, 1]
    assert load_classification("imagefolder", root).labels().tolist() == [0, 0, 1, 1]
    (tmp_path / "empty").mkdir()
    with pytest.raises(SithError, match="not an image folder"):
        load_imagefolder(tmp_path / "empty")
    with pytest.raises(SithError, match="unknown dataset"):
        load_classification("cifar", root)
