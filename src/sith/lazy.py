"""Lazy package attributes: a package names what it exports, and each name's module is imported
on first use (so ``sith --help`` and ``sith show`` import no model library)."""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from typing import Any


def lazy_getattr(package: str, table: dict[str, str], namespace: dict[str, Any]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package``: ``name`` is imported from ``table[name]`` once and
    cached in ``namespace`` (the package's ``globals()``)."""

    def getattr_(name: str) -> Any:
        if name not in table:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(import_module(table[name]), name)
        namespace[name] = value
        return value

    return getattr_
