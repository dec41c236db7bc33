"""User-facing errors.

Every problem caused by the user's input (a bad flag, a missing file, a model we
cannot analyse) raises :class:`SithError`. Its message is one line that names the
problem and the fix; the CLI prints it as ``error: <message>`` and exits with
code 2, without a traceback. Programming errors stay ordinary exceptions. An ``OSError``
(unwritable folder, missing file, full disk) is worded by :func:`os_error_text`.
"""

from __future__ import annotations

import errno
import os


class SithError(Exception):
    """A problem with the user's input, with a one-line message naming the fix."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))


def os_error_text(exc: OSError, path: str | os.PathLike | None = None) -> str:
    """One line for an ``OSError``: the path (``path`` if given, else the error's own), the
    system's reason and the fix."""
    where = path if path is not None else exc.filename
    reason = exc.strerror or type(exc).__name__
    if isinstance(exc, PermissionError) or exc.errno in (errno.EROFS, errno.EACCES):
        fix = "fix its permissions or choose another location (--output, --output-dir, --data-dir)"
    elif isinstance(exc, FileNotFoundError):
        fix = "check the path"
    elif exc.errno in (errno.ENOSPC, errno.EDQUOT):
        fix = "free some disk space or choose another --data-dir"
    elif isinstance(exc, NotADirectoryError | IsADirectoryError | FileExistsError):
        fix = "a file and a folder share this name; choose another path"
    else:
        fix = "check the path and its permissions"
    return f"cannot use {where}: {reason}; {fix}" if where is not None else f"{reason}; {fix}"
