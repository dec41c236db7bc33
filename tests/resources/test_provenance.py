"""Provenance sidecars are read by their format tag (issue 23)."""

from __future__ import annotations

import json
import logging

from sith.resources.provenance import FORMAT, provenance_path, read_provenance, write_provenance


def test_provenance_is_read_by_its_tag(tmp_path, caplog):
    f = tmp_path / "conceptnet.txt"
    f.write_text("water\nocean\n")
    write_provenance(f, {"source": "original", "url": "https://example.org/x"})
    record = read_provenance(f)
    assert record is not None and record["format"] == FORMAT and record["source"] == "original"
    side = provenance_path(f)
    for fmt in (None, "sith-provenance/9"):
        doc = {k: v for k, v in record.items() if k != "format"}
        side.write_text(json.dumps(doc if fmt is None else {**doc, "format": fmt}))
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            assert read_provenance(f) is None
        (line,) = caplog.messages
        assert "not a sith provenance file" in line and "download conceptnet.txt again" in line
