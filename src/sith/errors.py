"""User-facing errors.

Every problem caused by the user's input (a bad value, a missing file, a model we
cannot analyse) raises :class:`SithError` or one of its typed subclasses. Its message is one
line that names the problem and the fix; the CLI prints it as ``error: <message>`` and exits
with code 2, without a traceback. Programming errors stay ordinary exceptions. An ``OSError``
(unwritable folder, missing file, full disk) is worded by :func:`os_error_text`.

The typed subclasses carry fields a caller can act on:

* :class:`ConfigError` — a bad value of a named parameter (``field``, ``value``, ``choices``).
  The library speaks Python: its message names the parameter (``sparsity``); the CLI renders
  the same error with the flag (``--sparsity``) through :meth:`ConfigError.render`.
* :class:`FormatError` — a file that is not the format a reader expects (``path``).
* :class:`ModelMismatch` — a file or log made for another model than the loaded one.
"""

from __future__ import annotations

import errno
import os
import re
from collections.abc import Callable


class SithError(Exception):
    """A problem with the user's input, with a one-line message naming the fix."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))


class ConfigError(SithError, ValueError):
    """A bad value of one parameter.

    Args:
        field: the parameter's Python name (``"sparsity"``, ``"layers"``).
        message: one line naming the problem and the fix; ``{name}`` marks where the
            parameter is named (its Python name here, its flag in the CLI), ``{name:other}``
            another parameter, and ``{on}``/``{off}`` how a switch is turned on/off
            (``image_mean=False`` here, ``--no-image-mean`` in the CLI).
        value: the offending value (``None`` when there is none to show).
        choices: the valid values, when they are a short list.
    """

    def __init__(
        self, field: str, message: str, *, value: object = None, choices: tuple | None = None
    ) -> None:
        self.field = field
        self.value = value
        self.choices = tuple(choices) if choices is not None else None
        self.template = " ".join(str(message).split())
        super().__init__(self.render())

    def render(self, namer: Callable[[str], str] | None = None, *, cli: bool = False) -> str:
        """The message with each parameter called ``namer(field)`` (the CLI: its flag); a switch
        turned on/off reads ``field=True``/``field=False``, or with ``cli`` the flag and its
        ``--no-`` form. Default: Python's names."""
        namer = namer or (lambda f: f)
        text = re.sub(r"\{name:([a-z_]+)\}", lambda m: namer(m.group(1)), self.template)
        flag = namer(self.field)
        on, off = (flag, "--no-" + flag.removeprefix("--")) if cli else (f"{flag}=True", f"{flag}=False")
        return text.replace("{name}", flag).replace("{on}", on).replace("{off}", off)


class FormatError(SithError):
    """A file that is not in the format its reader expects (``path``: the file)."""

    def __init__(self, message: str, *, path: str | os.PathLike | None = None) -> None:
        self.path = path
        super().__init__(message)


class ModelMismatch(SithError):
    """A file, log or encoding made for another model than the one loaded."""


def os_error_text(exc: OSError, path: str | os.PathLike | None = None) -> str:
    """One line for an ``OSError``: the path (``path`` if given, else the error's own), the
    system's reason and the fix."""
    where = path if path is not None else exc.filename
    reason = exc.strerror or type(exc).__name__
    if isinstance(exc, PermissionError) or exc.errno in (errno.EROFS, errno.EACCES):
        fix = "fix its permissions or choose another location (output, output folder or data folder)"
    elif isinstance(exc, FileNotFoundError):
        fix = "check the path"
    elif exc.errno in (errno.ENOSPC, errno.EDQUOT):
        fix = "free some disk space or choose another data folder"
    elif isinstance(exc, NotADirectoryError | IsADirectoryError | FileExistsError):
        fix = "a file and a folder share this name; choose another path"
    else:
        fix = "check the path and its permissions"
    return f"cannot use {where}: {reason}; {fix}" if where is not None else f"{reason}; {fix}"
