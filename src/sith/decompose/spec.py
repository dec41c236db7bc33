"""Options as data: one declaration per parameter (default, type, choices, help, check).

A dataclass field made by :func:`option` carries an :class:`Option` in its metadata. The
configuration (:mod:`sith.decompose.config`) declares its fields this way, and everything
else is derived from those declarations: the validation (:func:`validate`), the project
options recorded in a file and its name, the CLI flags (``sith.cli.common``) and the keywords
of ``sith.api`` (:func:`with_options`). In the spirit of open_clip's configs as data and
scikit-learn's ``_parameter_constraints``.
"""

from __future__ import annotations

import inspect
import numbers
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from functools import cache
from typing import Any

from sith.errors import ConfigError, SithError

#: Value kinds an option can take (each maps to one argparse form in the CLI).
KINDS = ("int", "str", "bool", "ints")


@dataclass(frozen=True)
class Option:
    """One parameter's declaration.

    Attributes:
        name: the Python name (filled from the dataclass field).
        default: the default value.
        kind: ``int`` | ``str`` | ``bool`` | ``ints`` (a list of integers, stored as a tuple).
        help: one line for ``--help`` and the API docs, without the default.
        choices: the valid values, or None.
        check: ``check(value)`` raising ``ValueError``/:class:`~sith.errors.SithError` for a bad
            value (after the type and the choices are checked), its message naming the field
            as ``{name}``; it becomes a :class:`ConfigError` of this field. None: no further check.
        default_text: how the default reads in help (``"last 4"`` for None layers); None: ``str(default)``.
        seed: ``seed(value, config)`` — whether the value is the seed recipe's. None: the field
            is one of the seed's own flags, never a project option. A value that is not the
            seed's is a project option: recorded in ``options`` and (with ``tag``) in file names.
        tag: ``tag(value)`` — this option's part of a file name's ``_sith-...`` tag; None: none.
        compare: whether a stored file must agree on it before it is reused (False for the
            layers, which are per file, and the dictionary, compared by name and content hash).
    """

    name: str = ""
    default: Any = None
    kind: str = "str"
    help: str = ""
    choices: tuple | None = None
    check: Callable[[Any], object] | None = None
    default_text: str | None = None
    seed: Callable[[Any, Any], bool] | None = None
    tag: Callable[[Any], str] | None = None
    compare: bool = True

    def describe_default(self) -> str:
        if self.default_text is not None:
            return self.default_text
        if self.kind == "bool":
            return "on" if self.default else "off"
        return str(self.default)


def option(default: Any, *, kind: str, help: str, **spec: Any) -> Any:  # noqa: A002 - the option's help
    """A dataclass field declared by an :class:`Option` (keyword-only, with ``default``)."""
    if kind not in KINDS:
        raise ValueError(f"option kind must be one of {KINDS}, got {kind!r}")
    declared = Option(default=default, kind=kind, help=help, **spec)
    return field(default=default, kw_only=True, metadata={"option": declared})


@cache
def options_of(cls: Any) -> tuple[Option, ...]:
    """Every :class:`Option` a dataclass declares, named, in declaration order."""
    out = []
    for f in fields(cls):
        opt = f.metadata.get("option")
        if opt is not None:
            out.append(Option(**{**opt.__dict__, "name": f.name}))
    return tuple(out)


def is_integer(x: object) -> bool:
    """An integer (numpy's too), not a bool."""
    return isinstance(x, numbers.Integral) and not isinstance(x, bool)


def check_value(opt: Option, value: Any) -> Any:
    """``value`` of ``opt`` checked (type, choices, ``check``) and normalised (``ints`` → tuple,
    an empty one → None). Raises :class:`ConfigError` naming the field."""
    if value is None and opt.default is None:
        return None
    if opt.kind == "ints":
        try:
            items = tuple(value)
        except TypeError:
            items = None
        if items is None or not all(is_integer(x) for x in items):
            raise ConfigError(opt.name, f"{{name}} takes integers, got {value!r}", value=value)
        value = tuple(int(x) for x in items) or None
    elif opt.kind == "int":
        if not is_integer(value):
            raise ConfigError(opt.name, f"{{name}} must be an integer, got {value!r}", value=value)
        value = int(value)
    elif opt.kind == "bool" and not isinstance(value, bool):
        raise ConfigError(opt.name, f"{{name}} must be True or False, got {value!r}", value=value)
    elif opt.kind == "str" and not isinstance(value, str):
        raise ConfigError(opt.name, f"{{name}} must be a string, got {value!r}", value=value)
    if opt.choices is not None and value not in opt.choices:
        raise ConfigError(
            opt.name,
            f"unknown {{name}} {value!r}; use one of {', '.join(map(str, opt.choices))}",
            value=value,
            choices=opt.choices,
        )
    if opt.check is not None and value is not None:
        try:
            opt.check(value)
        except ConfigError as exc:
            raise ConfigError(opt.name, exc.template, value=value, choices=exc.choices) from None
        except (ValueError, SithError) as exc:
            raise ConfigError(opt.name, str(exc), value=value) from None
    return value


def validate(obj: Any) -> None:
    """Check and normalise every declared option of a frozen dataclass instance (its
    ``__post_init__``)."""
    for opt in options_of(type(obj)):
        value = check_value(opt, getattr(obj, opt.name))
        object.__setattr__(obj, opt.name, value)


def check_names(names: Iterable[str], allowed: tuple[Option, ...], *, command: str) -> None:
    """Unknown option names are a :class:`ConfigError` listing the valid ones."""
    known = [o.name for o in allowed]
    for name in names:
        if name not in known:
            raise ConfigError(
                name,
                f"unknown option {{name}} for {command}; use one of {', '.join(known)}",
                choices=tuple(known),
            )


def positive_int(example: int) -> Callable[[int], None]:
    """A ``check``: an integer ≥ 1 (the message suggests ``example``)."""

    def check(value: int) -> None:
        if value < 1:
            raise ValueError(f"{{name}} must be a positive integer, got {value!r}; pass e.g. {example}")

    return check


def with_options(func: Callable, opts: tuple[Option, ...]) -> Callable:
    """``func`` (taking ``**options``) with a signature and docs listing ``opts`` as keyword
    parameters with their defaults, so ``help()`` and editors show them; returns ``func``."""
    sig = inspect.signature(func)
    params = [p for p in sig.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
    annotations = {"int": "int", "str": "str", "bool": "bool", "ints": "list[int]"}
    extra = [
        inspect.Parameter(
            o.name,
            inspect.Parameter.KEYWORD_ONLY,
            default=o.default,
            annotation=annotations[o.kind] + (" | None" if o.default is None else ""),
        )
        for o in opts
    ]
    func.__signature__ = sig.replace(parameters=params + extra)  # type: ignore[attr-defined]
    lines = [f"    {o.name}: {o.help} (default: {o.describe_default()})" for o in opts]
    head = "\n\n    Options (sith.decompose.config):\n"
    func.__doc__ = (func.__doc__ or "") + head + "\n".join(lines) + "\n"
    return func
