"""``sith explore`` from the command line: a page on success; bad input → one line, exit 2, no page."""

from __future__ import annotations

import json

from sith.cli import main
from tests.explore.synthetic import MODEL, synthetic_decomposition, write_set
from tests.explore.test_extras import edit_log

ARGS = ["explore", "--model-name", "synthetic", "--pretrained", "x", "-q"]


def _run(capsys, *args):
    code = main([*ARGS, *map(str, args)])
    return code, capsys.readouterr()


def test_writes_a_page(tmp_path, capsys):
    write_set(tmp_path, [0, 1])
    log = tmp_path / "e.edit-log.json"
    log.write_text(json.dumps(edit_log(MODEL, [(1, 0, 3, 0.0)])))
    out = tmp_path / "page.html"
    code, io = _run(capsys, "--data-dir", tmp_path, "--output", out, "--edit-log", log)
    assert code == 0 and io.out.strip() == str(out)
    page = out.read_text()
    assert '"reason":"suppress water"' in page and 'id="sith-layer-1"' in page
    assert '<script type="application/json" id="sith-data">{"format":"sith-explore-page/1",' in page


def test_bad_input_one_line_no_page(tmp_path, capsys):
    out = tmp_path / "page.html"
    code, io = _run(capsys, "--data-dir", tmp_path, "--output", out)
    assert code == 2 and io.err.startswith("error: no decompositions found") and io.err.count("\n") == 1

    write_set(tmp_path, [0])
    log = tmp_path / "other.edit-log.json"
    log.write_text(json.dumps(edit_log(dict(MODEL, fingerprint="beef"), [(0, 0, 1, 0.0)])))
    code, io = _run(capsys, "--data-dir", tmp_path, "--output", out, "--edit-log", log)
    assert code == 2 and "edit log for another model" in io.err and io.err.count("\n") == 1

    other = synthetic_decomposition(1, model=dict(MODEL, model_name="ViT-B-32", fingerprint="beef"))
    other.save(
        tmp_path / "models/synthetic/x/decompositions/layer-1_right_foldln_synthetic_comp-0.3_sparsity-5.pt"
    )
    code, io = _run(capsys, "--data-dir", tmp_path, "--output", out)
    assert code == 2 and "different models are mixed" in io.err and io.err.count("\n") == 1
    assert "Traceback" not in io.err
    assert not out.exists() and not list(tmp_path.glob(".page.html*"))


def test_missing_grounding_one_line(tmp_path, capsys):
    write_set(tmp_path, [0])
    out = tmp_path / "page.html"
    code, io = _run(capsys, "--data-dir", tmp_path, "--output", out, "--grounding", tmp_path / "none")
    assert code == 2 and io.err.startswith("error: grounding not found") and io.err.count("\n") == 1
    assert not out.exists()
