"""The method table: how a method string (``comp-0.3``, ``omp``, ``lasso-0.1``) names a solver
and its one parameter (docs/method.md §5, §7). Pure data and parsing, no torch: the CLI reads
it to build its flags. The solvers themselves are :mod:`sith.decompose.solvers` (``SOLVERS``,
one per name here; a test checks both agree, defaults included).

A new method is one row here plus its solver function in ``SOLVERS``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sith.errors import ConfigError

#: The default λ of the coherence term (``comp``, ``ncomp``) and ``l1`` of ``lasso``.
DEFAULT_LAMBDA = 0.3
DEFAULT_L1 = 0.05


@dataclass(frozen=True)
class Method:
    """One row of the method table.

    Attributes:
        name: the method string's name (``comp`` in ``comp-0.3``).
        seed: one of the seed's methods (docs/method.md §5), else a project option (§7).
        param: the solver keyword the ``-X`` suffix sets (``lam``, ``l1``); None: no parameter.
        default: the parameter's default (the solver keyword's default too).
        high: the parameter's upper bound (its lower bound is 0).
        symbol: how messages name the parameter (``λ``).
    """

    name: str
    seed: bool
    param: str | None = None
    default: float | None = None
    high: float = math.inf
    symbol: str = ""

    def form(self) -> str:
        """``comp-<λ ≥ 0>``, ``omp``, ``lasso[-<l1 ≥ 0>]``: how this method is written."""
        if self.param is None:
            return self.name
        bound = "≥ 0" if math.isinf(self.high) else f"in [0,{self.high:g}]"
        return f"{self.name}[-<{self.symbol or self.param} {bound}>]"


#: The seed's methods (docs/method.md §5), then the project's options (§7).
METHOD_TABLE: dict[str, Method] = {
    m.name: m
    for m in (
        Method("comp", seed=True, param="lam", default=DEFAULT_LAMBDA, symbol="λ"),
        Method("omp", seed=True),
        Method("mp", seed=True),
        Method("topk", seed=True),
        Method("ncomp", seed=False, param="lam", default=DEFAULT_LAMBDA, high=1.0, symbol="λ"),
        Method("somp", seed=False),
        Method("lasso", seed=False, param="l1", default=DEFAULT_L1),
    )
}
SEED_METHODS = tuple(m.name for m in METHOD_TABLE.values() if m.seed)
OPTION_METHODS = tuple(m.name for m in METHOD_TABLE.values() if not m.seed)
METHODS = SEED_METHODS + OPTION_METHODS
#: The default method: the seed's COMP with its default λ.
DEFAULT_METHOD = f"comp-{DEFAULT_LAMBDA}"
#: Every valid form, for messages and help.
FORMS = (
    ", ".join(METHOD_TABLE[n].form() for n in SEED_METHODS)
    + "; options: "
    + ", ".join(METHOD_TABLE[n].form() for n in OPTION_METHODS)
)


def parse_method(spec: str) -> tuple[str, dict]:
    """Read a method string through :data:`METHOD_TABLE`: ``"comp-0.3"`` → ``("comp", {"lam": 0.3})``.

    A method with a parameter alone takes its default (``comp`` → λ = 0.3, ``lasso`` →
    ``l1 = 0.05``); ``omp``, ``mp``, ``topk`` and ``somp`` take no parameter.

    Raises:
        ConfigError: (field ``method``) unknown method, a parameter where none is taken, or a
        parameter out of its range.
    """
    text = str(spec).strip().lower()
    name, sep, arg = text.partition("-")
    entry = METHOD_TABLE.get(name)
    if entry is None:
        raise ConfigError("method", f"unknown {{name}} {spec!r}; valid forms: {FORMS}", value=spec)
    if entry.param is None:
        if sep:
            msg = f"{{name}} {name} takes no parameter (got {spec!r}); valid forms: {FORMS}"
            raise ConfigError("method", msg, value=spec)
        return name, {}
    if not sep:
        return name, {entry.param: entry.default}
    try:
        value = float(arg)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and 0.0 <= value <= entry.high):
        bound = "≥ 0" if math.isinf(entry.high) else f"in [0, {entry.high:g}]"
        what = f"{name} {entry.symbol or entry.param}"
        msg = f"{what} must be a number {bound} (got {spec!r}); valid forms: {FORMS}"
        raise ConfigError("method", msg, value=spec)
    return name, {entry.param: value}


def is_seed_method(spec: str) -> bool:
    """Whether ``spec`` is one of the seed's methods (docs/method.md §5), not a project option."""
    return METHOD_TABLE[parse_method(spec)[0]].seed
