"""The urllib Drive client against a local server that answers like Drive (issue 26)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import torch

from sith.errors import SithError
from sith.resources.drive import DriveEndpoints, download_file
from sith.resources.drivefolder import list_folder, parse_folder_view
from sith.resources.seed import check_file
from tests.resources.fakedrive import TOKEN, UUID, folder_page


def tensor_bytes(*shape: int, seed: int = 0) -> bytes:
    buf = io.BytesIO()
    torch.save(torch.randn(*shape, generator=torch.Generator().manual_seed(seed)), buf)
    return buf.getvalue()


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_parse_folder_view_reads_ids_names_and_folders():
    page = folder_page([("abcdefghij1", "image_mean.pt", False), ("folder_id_22", "decompositions", True),
                        ("k" * 20, "a &amp; b.txt", False)]).decode()
    got = [(e.id, e.name, e.is_folder) for e in parse_folder_view(page)]
    assert got == [("abcdefghij1", "image_mean.pt", False), ("folder_id_22", "decompositions", True),
                   ("k" * 20, "a &amp; b.txt", False)]
    assert parse_folder_view("<html><body>nothing</body></html>") == []


def test_list_folder_recurses_into_subfolders(drive):
    drive.state.add_folder("rootfolder01", {"image_mean.pt": b"a", "decompositions/layer.pt": b"b",
                                            "dictionaries/conceptnet.pt": b"c"})
    files = list_folder("rootfolder01")
    assert sorted(f.path for f in files) == ["decompositions/layer.pt", "dictionaries/conceptnet.pt",
                                             "image_mean.pt"]
    assert all(not f.is_folder for f in files)


@pytest.mark.parametrize("mode", ["direct", "cookie", "form"])
def test_download_small_and_large_file_styles(drive, tmp_path, mode):
    data = tensor_bytes(50, 8)
    drive.state.files["fileid000001"] = data
    drive.state.modes["fileid000001"] = mode
    dest, sha = download_file("fileid000001", tmp_path / "x.pt", check=check_file, progress=False)
    assert dest.read_bytes() == data and len(sha) == 64
    assert leftovers(tmp_path) == ["x.pt"]
    paths = [p for p, _ in drive.state.log]
    if mode == "cookie":
        assert any(f"confirm={TOKEN}" in p for p in paths)
    if mode == "form":
        assert any(p.startswith("/download?") and f"uuid={UUID}" in p for p in paths)


def test_interrupted_download_resumes_with_range(drive, tmp_path):
    data = tensor_bytes(200, 16)
    drive.state.files["fileid000002"] = data
    drive.state.modes["fileid000002"] = "form"
    drive.state.drops["fileid000002"] = 2
    dest, _ = download_file("fileid000002", tmp_path / "x.pt", check=check_file, backoff_s=0, progress=False)
    assert dest.read_bytes() == data
    ranges = [r for _, r in drive.state.log if r]
    assert len(ranges) == 2 and all(r.startswith("bytes=") and r != "bytes=0-" for r in ranges)
    assert leftovers(tmp_path) == ["x.pt"]


def test_busy_server_during_a_resume_is_retried(drive, tmp_path):
    data = tensor_bytes(200, 16)
    drive.state.files["fileid000007"] = data
    drive.state.drops["fileid000007"] = 1
    drive.state.busy["fileid000007"] = 1
    dest, _ = download_file("fileid000007", tmp_path / "x.pt", check=check_file, backoff_s=0, progress=False)
    assert dest.read_bytes() == data and drive.state.busy["fileid000007"] == 0


def test_interrupted_download_restarts_when_range_is_ignored(drive, tmp_path):
    data = tensor_bytes(200, 16)
    drive.state.files["fileid000003"] = data
    drive.state.drops["fileid000003"] = 1
    drive.state.no_range = True
    dest, _ = download_file("fileid000003", tmp_path / "x.pt", check=check_file, backoff_s=0, progress=False)
    assert dest.read_bytes() == data


def test_download_that_keeps_dropping_fails_in_one_line_and_resumes_later(drive, tmp_path):
    data = tensor_bytes(200, 16)
    drive.state.files["fileid000004"] = data
    drive.state.drops["fileid000004"] = 3
    with pytest.raises(SithError, match="stopped at .* after 2 tries; run the command again") as exc:
        download_file("fileid000004", tmp_path / "x.pt", retries=1, backoff_s=0, progress=False)
    assert "\n" not in str(exc.value)
    assert not (tmp_path / "x.pt").exists()
    assert leftovers(tmp_path) == [".x.pt.part"]  # kept for the next run to resume
    dest, _ = download_file("fileid000004", tmp_path / "x.pt", check=check_file, retries=1, backoff_s=0,
                            progress=False)
    assert dest.read_bytes() == data and leftovers(tmp_path) == ["x.pt"]
    assert drive.state.log[-1][1] is not None  # the last request asked for the rest only


def test_leftover_part_file_as_long_as_the_file_is_restarted(drive, tmp_path):
    data = tensor_bytes(20, 4)
    drive.state.files["fileid000006"] = data
    (tmp_path / ".x.pt.part").write_bytes(b"\0" * (len(data) + 5))  # an earlier run's: cannot resume
    dest, _ = download_file("fileid000006", tmp_path / "x.pt", check=check_file, progress=False)
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
    drive.state.files["fileid000005"] = body or tensor_bytes(4)
    drive.state.modes["fileid000005"] = mode
    with pytest.raises(SithError, match=needle) as exc:
        download_file("fileid000005", tmp_path / "x.pt", check=check_file, progress=False)
    assert "\n" not in str(exc.value)
    assert leftovers(tmp_path) == []


def test_missing_file_and_unreachable_server(drive, tmp_path):
    with pytest.raises(SithError, match="HTTP 404"):
        download_file("nosuchfile01", tmp_path / "x.pt", progress=False)
    with pytest.raises(SithError, match="cannot reach http://127.0.0.1:9/"):
        list_folder("rootfolder01", endpoints=DriveEndpoints.from_env("http://127.0.0.1:9"), timeout=5)
    with pytest.raises(SithError, match="not a valid Drive file id"):
        download_file("../etc", tmp_path / "x.pt", progress=False)
    assert leftovers(tmp_path) == []


def test_text_check(tmp_path):
    (tmp_path / "a.txt").write_bytes(b"\xff\xfe bad")
    with pytest.raises(SithError, match="not UTF-8"):
        check_file(tmp_path / "a.txt")
    (tmp_path / "b.txt").write_text("  \n")
    with pytest.raises(SithError, match="empty"):
        check_file(tmp_path / "b.txt")
