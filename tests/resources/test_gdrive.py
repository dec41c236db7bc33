"""sith's Drive layer on gdown, against Drive's answers mocked with ``responses``."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import torch

from sith.errors import SithError
from sith.resources.gdrive import download_file, list_folder, safe_path
from sith.resources.seed import check_file
from tests.resources.fakedrive import TOKEN, UUID

FID = "fileid" + "0" * 22


def tensor_bytes(*shape: int, seed: int = 0) -> bytes:
    buf = io.BytesIO()
    torch.save(torch.randn(*shape, generator=torch.Generator().manual_seed(seed)), buf)
    return buf.getvalue()


def big_bytes() -> bytes:
    """A tensor file over gdown's 512 KiB chunk, so half a body delivers a chunk before the drop."""
    return tensor_bytes(400, 1000)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_list_folder_recurses_into_subfolders(drive):
    drive.state.add_folder("rootfolder01", {"image_mean.pt": b"a", "decompositions/layer.pt": b"b",
                                            "dictionaries/conceptnet.pt": b"c"})
    files = list_folder("rootfolder01")
    assert sorted(f.path for f in files) == ["decompositions/layer.pt", "dictionaries/conceptnet.pt",
                                             "image_mean.pt"]
    assert {f.id for f in files} <= set(drive.state.files)


def test_listed_paths_stay_inside_the_folder():
    assert safe_path("a/b.pt") == "a/b.pt"
    for bad in ("../x.pt", "/etc/passwd", "a/../../b", ""):
        with pytest.raises(SithError, match="unusable file name"):
            safe_path(bad)


@pytest.mark.parametrize("mode", ["direct", "link", "form"])
def test_download_small_and_large_file_styles(drive, tmp_path, mode):
    """A large file answers a confirmation page first; gdown follows its link or its form."""
    data = tensor_bytes(50, 8)
    drive.state.files[FID] = data
    drive.state.modes[FID] = mode
    dest, sha = download_file(FID, tmp_path / "x.pt", check=check_file, progress=False)
    assert dest.read_bytes() == data and len(sha) == 64
    assert leftovers(tmp_path) == ["x.pt"]
    paths = [p for p, _ in drive.state.log]
    if mode == "link":
        assert any(f"confirm={TOKEN}" in p for p in paths)
    if mode == "form":
        assert any(p.startswith("/download?") and f"uuid={UUID}" in p for p in paths)


def test_interrupted_download_resumes_with_range_within_the_call(drive, tmp_path):
    data = big_bytes()
    drive.state.files[FID] = data
    drive.state.modes[FID] = "form"
    drive.state.drops[FID] = 1
    dest, _ = download_file(FID, tmp_path / "x.pt", check=check_file, progress=False)
    assert dest.read_bytes() == data
    ranges = [r for _, r in drive.state.log if r]
    assert len(ranges) == 1 and ranges[0].startswith("bytes=") and ranges[0] != "bytes=0-"
    assert leftovers(tmp_path) == ["x.pt"]


def test_interrupted_download_fails_in_one_line_and_the_next_run_resumes(drive, tmp_path):
    data = big_bytes()
    drive.state.files[FID] = data
    drive.state.drops[FID] = 1
    with pytest.raises(SithError, match="run the command again to resume") as exc:
        download_file(FID, tmp_path / "x.pt", retries=0, progress=False)
    assert "\n" not in str(exc.value)
    assert not (tmp_path / "x.pt").exists()
    [part] = leftovers(tmp_path)  # gdown's hidden part file, kept for the next run
    assert part.startswith(".x.pt.download") and part.endswith(".part")
    have = (tmp_path / part).stat().st_size
    assert 0 < have < len(data)
    dest, _ = download_file(FID, tmp_path / "x.pt", check=check_file, retries=0, progress=False)
    assert dest.read_bytes() == data and leftovers(tmp_path) == ["x.pt"]
    assert drive.state.log[-1][1] == f"bytes={have}-"  # the rest only


def test_interrupted_download_restarts_when_range_is_ignored(drive, tmp_path):
    data = tensor_bytes(200, 16)
    drive.state.files[FID] = data
    drive.state.drops[FID] = 1
    drive.state.no_range = True
    dest, _ = download_file(FID, tmp_path / "x.pt", check=check_file, progress=False)
    assert dest.read_bytes() == data and leftovers(tmp_path) == ["x.pt"]


@pytest.mark.parametrize(
    ("mode", "body", "needle"),
    [
        ("html-body", None, "arrived as an HTML page"),
        ("quota", None, "quota"),
        ("direct", b"PK\x03\x04 not really a zip " * 10, "not a readable weights-only torch file"),
    ],
)
def test_corrupt_download_is_one_line_and_leaves_nothing(drive, tmp_path, mode, body, needle):
    drive.state.files[FID] = body or tensor_bytes(4)
    drive.state.modes[FID] = mode
    with pytest.raises(SithError, match=needle) as exc:
        download_file(FID, tmp_path / "x.pt", check=check_file, progress=False)
    assert "\n" not in str(exc.value)
    assert leftovers(tmp_path) == []


def test_missing_file_unreachable_host_and_bad_id(drive, tmp_path):
    with pytest.raises(SithError, match="cannot download .* from Google Drive") as exc:
        download_file("nosuchfile01", tmp_path / "x.pt", progress=False)
    assert "\n" not in str(exc.value)
    with pytest.raises(SithError, match="404"):
        list_folder("rootfolder01")
    with pytest.raises(SithError, match="not a valid Drive file id"):
        download_file("../etc", tmp_path / "x.pt", progress=False)
    drive.stop()  # nothing answers: requests' ConnectionError
    import responses

    with responses.RequestsMock() as nothing:
        assert not nothing.registered()
        with pytest.raises(SithError, match="cannot reach Google Drive"):
            list_folder("rootfolder01")
        with pytest.raises(SithError, match="cannot reach Google Drive"):
            download_file(FID, tmp_path / "new" / "dictionaries" / "x.txt", retries=0, progress=False)
    assert leftovers(tmp_path) == []  # the folders the refused download made are gone


def test_text_check(tmp_path):
    (tmp_path / "a.txt").write_bytes(b"\xff\xfe bad")
    with pytest.raises(SithError, match="not UTF-8"):
        check_file(tmp_path / "a.txt")
    (tmp_path / "b.txt").write_text("  \n")
    with pytest.raises(SithError, match="empty"):
        check_file(tmp_path / "b.txt")
