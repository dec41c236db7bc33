"""The stores a Workspace reads and writes through: the data directory, or an in-memory
overlay of it for dry runs (reads fall through, writes stay in memory)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import sith.api as sith
from sith.decompose import LayerDecomposition
from sith.errors import SithError
from sith.io import load_pt, save_pt
from sith.pipeline.store import DiskStore, OverlayStore


def files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


def test_disk_and_overlay_stores(tmp_path):
    disk = DiskStore(tmp_path)
    on_disk, new = tmp_path / "a.pt", tmp_path / "b.pt"
    disk.write(on_disk, {"x": 1}, save_pt)
    assert disk.read(on_disk, load_pt) == {"x": 1} and disk.read(new, load_pt) is None
    overlay = OverlayStore(disk)
    assert overlay.root == tmp_path and overlay.read(on_disk, load_pt) == {"x": 1}  # falls through
    overlay.write(new, {"x": 2}, save_pt)
    overlay.write(on_disk, {"x": 3}, save_pt)
    assert overlay.read(new, load_pt) == {"x": 2} and overlay.read(on_disk, load_pt) == {"x": 3}
    assert files(tmp_path) == {on_disk} and disk.read(on_disk, load_pt) == {"x": 1}  # nothing written
    assert disk.checkpoint(new) == tmp_path / "b.partial.pt" and overlay.checkpoint(new) is None
    with pytest.raises(SithError, match="dry run writes nothing"):
        overlay.download_dictionary("conceptnet", progress=False)
    with pytest.raises(SithError, match="read-only"):
        overlay.output_dir(tmp_path / "g", "grounding")


def test_a_read_only_workspace_computes_in_memory_and_writes_nothing(organism_copy, monkeypatch):
    """A dry run: a missing decomposition is made in memory (once), nothing is written, and
    the session's workspace is unchanged; a real run afterwards writes the same one."""
    before = {p: p.read_bytes() for p in files(organism_copy)}
    ws = sith.workspace(data_dir=organism_copy, progress=False)
    dry = ws.read_only()
    assert isinstance(dry.store, OverlayStore) and dry.clip is ws.clip and dry.data_dir == organism_copy
    request = dry.request(layers=[5], rank=4, sparsity=2)
    calls = []
    real = dry.decompose_one
    monkeypatch.setattr(dry, "decompose_one", lambda *a, **k: calls.append(k) or real(*a, **k))
    (first,) = dry.decompositions(request)[1]
    (again,) = dry.decompositions(request)[1]
    assert again is first and len(calls) == 2  # two pieces of 4 heads, then read from memory
    assert {p: p.read_bytes() for p in files(organism_copy)} == before
    assert ws.caches.image_mean is None and ws.caches.encoded == {}  # the dry run's caches are its own
    (path,) = ws.decompose(request)
    stored = LayerDecomposition.load(path)
    assert torch.equal(stored.indices, first.indices) and torch.equal(stored.scores, first.scores)
    assert stored.config == first.config


def test_a_dry_run_never_rewrites_a_stale_encoding(organism_copy, caplog):
    """An encoded dictionary that no longer fits (here: its sidecar names another pool) is
    re-encoded in memory by a dry run; the stored files stay as they were."""
    import json

    caplog.set_level("INFO")

    ws = sith.workspace(data_dir=organism_copy, progress=False)
    stored = next(organism_copy.rglob("dictionaries/organism.pt"))
    side = stored.with_suffix(".json")
    record = json.loads(side.read_text())
    side.write_text(json.dumps({**record, "pool_hash": "0" * 16}))
    before = {p: p.read_bytes() for p in stored.parent.iterdir()}
    encoded = ws.read_only().encoded()
    assert "rebuilding encoded dictionary" in caplog.text  # it was stale, so it was encoded again
    assert {p: p.read_bytes() for p in stored.parent.iterdir()} == before
    torch.testing.assert_close(encoded.embeddings, torch.load(stored, weights_only=True), atol=1e-5, rtol=0)
    assert "sith-dry-run-" not in caplog.text  # the scratch folder is never shown to the user
    assert "kept in memory (not written)" in caplog.text


def test_a_dry_run_names_a_reused_encoding_by_its_stored_path(organism_copy, caplog):
    caplog.set_level("INFO")
    ws = sith.workspace(data_dir=organism_copy, progress=False)
    ws.read_only().encoded()
    assert "reusing encoded dictionary" in caplog.text and "sith-dry-run-" not in caplog.text
    assert str(organism_copy) in caplog.text
