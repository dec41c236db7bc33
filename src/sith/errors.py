"""User-facing errors.

Every problem caused by the user's input (a bad flag, a missing file, a model we
cannot analyse) raises :class:`SithError`. Its message is one line that names the
problem and the fix; the CLI prints it as ``error: <message>`` and exits with
code 2, without a traceback. Programming errors stay ordinary exceptions.
"""

from __future__ import annotations


class SithError(Exception):
    """A problem with the user's input, with a one-line message naming the fix."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))
