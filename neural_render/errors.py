"""Error types shared by the library and the CLI.

`InputError` is the user's bad input (a file, a flag, a config value): the CLI prints its one-line
message and exits with code 2. Anything else that escapes is an internal error (exit code 1).
"""

from __future__ import annotations

from pathlib import Path


class InputError(Exception):
    """Bad user input. The message names what, where and how to fix it."""

    def __init__(self, message: str, *, path: str | Path | None = None, where: str | None = None,
                 fix: str | None = None):
        parts = []
        if path is not None:
            parts.append(str(path))
        if where:
            parts.append(where)
        head = ": ".join(parts)
        text = f"{head}: {message}" if head else message
        if fix:
            text += f" ({fix})"
        super().__init__(text)
        self.path = path
