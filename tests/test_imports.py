"""The import graph of ``src/sith``: no circles, no private names across modules (issue 8).

Every module under ``src/sith`` is parsed with :mod:`ast` (nothing is imported). An edge
``a -> b`` is a module-level import in ``a`` (also inside a top-level ``if``/``try``, not
inside ``if TYPE_CHECKING:``, a function or a class) that makes Python execute ``b``.
A second, stricter graph also counts imports inside functions (a function-level import
hides a circle from Python but not from the design):
``from sith.x import y`` gives ``sith.x`` and, when ``y`` is a submodule, ``sith.x.y``;
relative imports are resolved; importing ``sith.p.q`` also executes the package
``sith.p`` (its ``__init__``) unless ``a`` lives inside ``sith.p`` already.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
ROOT = "sith"

# Known circles / private names still to remove (each entry a sorted tuple of one strongly
# connected component, or "importer -> module.name"). Empty: none is allowed.
ALLOWED_UNTIL_FIXED: set[tuple[str, ...]] = set()
PRIVATE_ALLOWED_UNTIL_FIXED: set[str] = set()


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def all_modules() -> dict[str, Path]:
    """``{"sith.load.clip": path, "sith.load": path/to/__init__.py, ...}``."""
    return {_module_name(p): p for p in sorted((SRC / ROOT).rglob("*.py"))}


MODULES = all_modules()


def _is_package(name: str) -> bool:
    return MODULES[name].name == "__init__.py"


def _resolve_from(node: ast.ImportFrom, importer: str) -> str:
    """The absolute module named by ``from <module> import ...`` (relative ones resolved)."""
    if not node.level:
        return node.module or ""
    base = importer.split(".")
    if not _is_package(importer):
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _module_level(body: list[ast.stmt]) -> Iterator[ast.Import | ast.ImportFrom]:
    for stmt in body:
        if isinstance(stmt, ast.Import | ast.ImportFrom):
            yield stmt
        elif isinstance(stmt, ast.If):
            if not _is_type_checking(stmt.test):
                yield from _module_level(stmt.body)
            yield from _module_level(stmt.orelse)
        elif isinstance(stmt, ast.Try):
            for block in (stmt.body, stmt.orelse, stmt.finalbody, *[h.body for h in stmt.handlers]):
                yield from _module_level(block)


def _tree(name: str) -> ast.Module:
    return ast.parse(MODULES[name].read_text(), filename=str(MODULES[name]))


def _targets(node: ast.Import | ast.ImportFrom, importer: str) -> list[tuple[str, str | None]]:
    """``(module, imported name or None)`` pairs of one import statement, sith modules only."""
    if isinstance(node, ast.Import):
        return [(a.name, None) for a in node.names if a.name.split(".")[0] == ROOT]
    base = _resolve_from(node, importer)
    if base.split(".")[0] != ROOT:
        return []
    return [(base, a.name) for a in node.names]


def _executed(module: str, name: str | None, importer: str) -> set[str]:
    """Modules Python runs for ``from module import name`` in ``importer``."""
    run = {module}
    if name is not None and f"{module}.{name}" in MODULES:
        run.add(f"{module}.{name}")
    out = set()
    for target in run:
        parts = target.split(".")
        for i in range(2, len(parts) + 1):  # the package inits on the way, then the module
            step = ".".join(parts[:i])
            if step in MODULES and not (importer == step or importer.startswith(step + ".")):
                out.add(step)
    out.discard(importer)
    return out


def import_graph(*, functions: bool = False) -> dict[str, set[str]]:
    """``{module: {modules its imports execute}}`` over every sith module: module-level
    imports only, or (``functions=True``) every import statement in the file."""
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for mod in MODULES:
        tree = _tree(mod)
        nodes = ast.walk(tree) if functions else _module_level(tree.body)
        for node in nodes:
            if not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            for target, name in _targets(node, mod):
                graph[mod] |= _executed(target, name, mod)
    return graph


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm; components with more than one module (or a self-loop)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1 or v in graph[v]:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def a_cycle(graph: dict[str, set[str]], comp: list[str]) -> list[str]:
    """One concrete cycle ``[a, b, ..., a]`` inside a strongly connected component."""
    members = set(comp)
    start = comp[0]
    path, seen = [start], {start}
    while True:
        nxt = sorted(w for w in graph[path[-1]] if w in members)
        back = [w for w in nxt if w in seen]
        if back:
            return path[path.index(back[0]) :] + [back[0]]
        path.append(nxt[0])
        seen.add(nxt[0])


def test_graph_sees_the_whole_package() -> None:
    graph = import_graph()
    assert {"sith", "sith.load", "sith.load.clip", "sith.organism.world"} <= set(graph)
    assert "sith.load.weights" in graph["sith.load.clip"]
    assert "sith.organism.captions" in graph["sith.organism.world"]


def test_a_planted_cycle_is_found() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert strongly_connected(graph) == [["a", "b", "c"]]
    assert a_cycle(graph, ["a", "b", "c"]) == ["a", "b", "c", "a"]


def _cycles(graph: dict[str, set[str]], allowed: set[tuple[str, ...]]) -> list[str]:
    found = {tuple(c) for c in strongly_connected(graph)} - allowed
    return [" -> ".join(a_cycle(graph, list(c))) for c in sorted(found)]


def test_no_import_cycles() -> None:
    cycles = _cycles(import_graph(), set())
    assert not cycles, "import cycles (module level):\n" + "\n".join(cycles)


def test_no_cycles_through_function_level_imports() -> None:
    cycles = _cycles(import_graph(functions=True), ALLOWED_UNTIL_FIXED)
    assert not cycles, "import cycles (counting function-level imports):\n" + "\n".join(cycles)


def test_the_load_and_organism_circles_are_gone() -> None:
    """The circles named in issue 8 (load/clip <-> backends, organism world <-> captions)."""
    graph = import_graph(functions=True)
    members = {m for c in strongly_connected(graph) for m in c}
    assert not {m for m in members if m.startswith(("sith.load", "sith.organism.world"))}
    assert not members & {"sith.organism.captions", "sith.organism.vocab"}
    assert not {b for b in graph["sith.load.clip"] if b.startswith("sith.load.")} - {
        "sith.load.registry",
        "sith.load.weights",
    }  # clip.py names no backend


def _private_uses(mod: str) -> Iterator[str]:
    """``from sith.x import _y`` / ``sith.x._y`` from another module, anywhere in ``mod``
    (function-level imports included). Private submodules of the importer's own package
    (``from sith.decompose import _kernels`` in ``sith.decompose.solvers``) are allowed."""
    tree = _tree(mod)
    package = mod if _is_package(mod) else mod.rpartition(".")[0]
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            for target, name in _targets(node, mod):
                if name is None:
                    for a in node.names:
                        if a.asname:
                            aliases[a.asname] = a.name
                        else:
                            aliases[a.name.split(".")[0]] = a.name.split(".")[0]
                    continue
                full = f"{target}.{name}"
                if full in MODULES:
                    aliases[name] = full
                if not name.startswith("_") or name.startswith("__") or target == mod:
                    continue
                if full in MODULES and target == package:
                    continue
                yield f"{mod} -> {target}.{name}"
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
            and isinstance(node.value, ast.Name)
            and aliases.get(node.value.id, "").startswith(ROOT)
            and aliases[node.value.id] != mod
        ):
            yield f"{mod} -> {aliases[node.value.id]}.{node.attr}"


def test_no_private_names_across_modules() -> None:
    uses = sorted({u for mod in MODULES for u in _private_uses(mod)} - PRIVATE_ALLOWED_UNTIL_FIXED)
    assert not uses, "private names used across modules:\n" + "\n".join(uses)


# --------------------------------------------------------------------------- layers

#: The core: the pipeline stages, orchestration and the small shared modules.
CORE = (
    "sith.load",
    "sith.factor",
    "sith.encode",
    "sith.decompose",
    "sith.edit",
    "sith.ground",
    "sith.pipeline",
    "sith.resources",
    "sith.errors",
    "sith.io",
    "sith.lazy",
    "sith.paths",
    "sith.plugins",
)
#: The shells above it (the core plugs nothing of theirs in; they register with it).
SHELLS = (
    "sith.organism",
    "sith.organism_eval",
    "sith.experiments",
    "sith.judge",
    "sith.explore",
    "sith.compare",
    "sith.cli",
    "sith.api",
    "sith.datasets",
    "sith.metrics",
)


def _in(module: str, packages: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def core_modules() -> list[str]:
    return [m for m in MODULES if _in(m, CORE)]


def test_every_module_is_core_a_shell_or_the_package_root() -> None:
    """A new package must be placed on one side of the layer rule."""
    unplaced = [m for m in MODULES if m not in (ROOT, "sith.__main__") and not _in(m, CORE + SHELLS)]
    assert not unplaced, f"modules in neither CORE nor SHELLS: {unplaced}"


def test_the_core_imports_no_shell() -> None:
    """Arrows point down: no core module imports a shell, function-level imports included
    (no allow-list). The organism plugs in from above (sith.organism.plugin)."""
    graph = import_graph(functions=True)
    bad = sorted(f"{m} -> {t}" for m in core_modules() for t in graph[m] if _in(t, SHELLS))
    assert not bad, "core modules importing shells:\n" + "\n".join(bad)


#: The rows of the picture in docs/design.md, top to bottom: a package imports only packages
#: of lower rows (the shared bottom row may import within itself).
LAYERS = (
    ("sith.cli",),
    ("sith.explore",),
    ("sith.api",),
    ("sith.experiments",),
    ("sith.compare", "sith.judge"),
    ("sith.organism_eval",),
    ("sith.organism",),
    ("sith.datasets", "sith.metrics"),
    ("sith.pipeline",),
    ("sith.edit",),
    ("sith.ground",),
    ("sith.decompose",),
    ("sith.resources",),
    ("sith.encode",),
    ("sith.factor",),
    ("sith.load",),
    ("sith.errors", "sith.io", "sith.paths", "sith.lazy", "sith.plugins"),
)


def _row(module: str) -> int | None:
    return next((i for i, row in enumerate(LAYERS) if _in(module, row)), None)


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    """Edges ``a -> b`` between packages where ``b``'s row is not below ``a``'s."""
    bottom = len(LAYERS) - 1
    bad = []
    for a, targets in graph.items():
        ra = _row(a)
        for b in targets:
            rb = _row(b)
            if ra is None or rb is None or a.split(".")[:2] == b.split(".")[:2]:
                continue
            if rb < ra or (rb == ra and ra != bottom):
                bad.append(f"{a} -> {b}")
    return sorted(bad)


def test_the_layers_are_every_package_once() -> None:
    placed = [p for row in LAYERS for p in row]
    assert len(placed) == len(set(placed)) and set(placed) == set(CORE + SHELLS)
    assert {p for row in LAYERS[LAYERS.index(("sith.pipeline",)):] for p in row} == set(CORE)


def test_arrows_point_down_only() -> None:
    """docs/design.md's picture: each row imports only rows below it, function-level imports
    included, no allow-list."""
    bad = upward_imports(import_graph(functions=True))
    assert not bad, "imports against the rows of docs/design.md:\n" + "\n".join(bad)


def test_the_row_check_sees_an_upward_import() -> None:
    graph = {"sith.load.clip": {"sith.decompose.layer"}, "sith.edit.plan": {"sith.decompose"},
             "sith.compare.run": {"sith.judge.run"}, "sith.io": {"sith.errors"}}
    assert upward_imports(graph) == [
        "sith.compare.run -> sith.judge.run",
        "sith.load.clip -> sith.decompose.layer",
    ]


def test_the_layer_check_sees_a_function_level_import(tmp_path: Path) -> None:
    """The check would catch ``from sith.organism.world import sample`` inside a function."""
    code = "def f():\n    from sith.organism.world import sample\n    return sample\n"
    tree = ast.parse(code)
    found = {
        t
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        for module, name in _targets(node, "sith.ground.sources")
        for t in _executed(module, name, "sith.ground.sources")
    }
    assert {"sith.organism", "sith.organism.world"} <= found and all(_in(t, SHELLS) for t in found)


def _docstrings(tree: ast.Module) -> set[int]:
    kinds = (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    return {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, kinds)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }


def organism_literals(tree: ast.Module, module: str) -> list[str]:
    """String constants (docstrings aside, f-string parts included) naming the organism."""
    docs = _docstrings(tree)
    return [
        f"{module}:{node.lineno}: {node.value[:60]!r}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and "organism" in node.value.lower()
        and id(node) not in docs
    ]


def test_core_modules_hold_no_organism_literal() -> None:
    """No ``"organism"`` / ``"sith-organism"`` / ``"sith.load.organism"`` string in the core:
    the built-in model is named by its plugin only."""
    found = [hit for m in core_modules() for hit in organism_literals(_tree(m), m)]
    assert not found, "organism literals in core modules:\n" + "\n".join(found)


def test_the_literal_check_sees_one() -> None:
    code = 'X = "sith-organism"\ndef f():\n    """organism docs are fine."""\n    return f"{X} organism"\n'
    hits = organism_literals(ast.parse(code), "m")
    assert hits == ["m:1: 'sith-organism'", "m:4: ' organism'"]
