"""examples/tutorial.ipynb executes from top to bottom (nbclient, the python3 kernel of this
interpreter) with no error, and shows what it promises: head 3's table, search hits, the plan,
the measurement beside its random control and the explorer page. The kernel cannot import the
packages only the ``dev`` extra installs, so the notebook runs on the base install plus the
``notebook`` extra."""

from __future__ import annotations

import os
import re
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "examples" / "tutorial.ipynb"
#: Import names of distributions whose import name differs.
IMPORT_NAMES = {"scikit-learn": "sklearn"}

BLOCKER = """import builtins
import importlib

BLOCKED = set({names!r})
real_import, real_import_module = builtins.__import__, importlib.import_module


def refuse(name):
    if name.split(".")[0] in BLOCKED:
        raise ModuleNotFoundError(f"No module named {{name!r}} (dev-only: blocked)", name=name)


def blocked_import(name, globals=None, locals=None, fromlist=(), level=0):
    if level == 0:
        refuse(name)
    return real_import(name, globals, locals, fromlist, level)


def blocked_import_module(name, package=None):
    refuse(name)
    return real_import_module(name, package)


builtins.__import__, importlib.import_module = blocked_import, blocked_import_module
"""


def extra(name: str) -> set[str]:
    """Distribution names of one optional-dependency list of pyproject.toml."""
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    block = re.search(rf"^{name} = \[(.*?)\]", text, re.S | re.M).group(1)
    return {re.split(r"[<>=\[ ]", d.strip())[0] for d in re.findall(r'"([^"]+)"', block)}


def dev_only_imports() -> list[str]:
    """Import names of the dev extra's packages that neither the base install nor the notebook
    extra installs."""
    only = extra("dev") - extra("notebook") - extra("dependencies")
    return sorted(IMPORT_NAMES.get(d, d).replace("-", "_") for d in only)


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
    blocked = dev_only_imports()
    assert {"pytest", "sklearn"} <= set(blocked) and not {"pandas", "torch"} & set(blocked)
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(BLOCKER.format(names=blocked))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")])))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(nb, timeout=900, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError on any failing cell
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert not [o for c in code for o in c.get("outputs", []) if o.get("output_type") == "error"]
    texts = [outputs_text(c) for c in code]
    assert "<table>" in texts[1] and "layer 5 head 3" in texts[1]  # head 3's explanations
    assert "fidelity" in texts[2] and "<table" in texts[2]  # a DataFrame
    assert "random strings" in texts[3] and "<table>" in texts[3]  # hits, with the familiarity line
    assert "edit plan (judged)" in texts[4]
    lines = [ln for ln in texts[5].splitlines() if "components" in ln]
    print("\n".join(lines))
    assert [ln.split()[0] for ln in lines] == ["original", "suppress", "random,"]
    assert "explorer: file://" in texts[6] and (data / "sith.html").is_file()
    stderr = [o.get("text", "") for c in code for o in c.get("outputs", []) if o.get("name") == "stderr"]
    assert not [t for t in stderr if "TqdmWarning" in t]  # progress bars are widgets (the notebook extra)
