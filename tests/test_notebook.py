"""examples/tutorial.ipynb executes from top to bottom (nbclient, the python3 kernel of this
interpreter) with no error, and shows what it promises: head 3's table, search hits, the plan,
the measurement beside its random control and the explorer page."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "tutorial.ipynb"


def outputs_text(cell: dict) -> str:
    parts = []
    for out in cell.get("outputs", []):
        parts.append(out.get("text", ""))
        data = out.get("data", {})
        parts += [data.get("text/html", ""), data.get("text/plain", "")]
    return "\n".join(p if isinstance(p, str) else "".join(p) for p in parts)


def test_tutorial_notebook_executes(tmp_path, monkeypatch):
    data = tmp_path / "data"
    monkeypatch.setenv("SITH_TUTORIAL_DATA", str(data))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(nb, timeout=900, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError on any failing cell
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert not [o for c in code for o in c.get("outputs", []) if o.get("output_type") == "error"]
    texts = [outputs_text(c) for c in code]
    assert "<table>" in texts[1] and "layer 5 head 3" in texts[1]  # head 3's explanations
    assert "random strings" in texts[2] and "<table>" in texts[2]  # hits, with the familiarity line
    assert "edit plan (judged)" in texts[3]
    lines = [ln for ln in texts[4].splitlines() if "components" in ln]
    print("\n".join(lines))
    assert [ln.split()[0] for ln in lines] == ["original", "suppress", "random,"]
    assert "explorer: file://" in texts[5] and (data / "sith.html").is_file()
