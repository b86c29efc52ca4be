"""Error types shared by the library and the CLI.

`InputError` is the user's bad input (a file, a flag, a config value): the CLI prints its one-line
message and exits with code 2. Anything else that escapes is an internal error (exit code 1).

Messages may quote the user's values; a hostile input can make a value huge (a YAML "billion
laughs" expands 1.8 kB into hundreds of MB), so a message is capped at `MAX_MESSAGE_CHARS` and
`quote()` caps a quoted value.
"""

from __future__ import annotations

from pathlib import Path

MAX_MESSAGE_CHARS = 2000   # a whole error message
MAX_QUOTE_CHARS = 120      # one quoted value in a message


def quote(value, limit: int = MAX_QUOTE_CHARS) -> str:
    """repr() of `value` for an error message, at most `limit` characters (safe on huge or
    deeply nested values: containers are summarised by type and length, not walked)."""
    if isinstance(value, (list, tuple, dict, set, frozenset)):
        return f"<{type(value).__name__} of {len(value)} items>"
    if isinstance(value, (str, bytes, bytearray)):
        text = repr(value[: limit + 1])
    else:
        try:
            text = repr(value)
        except Exception:  # a repr that fails or recurses too deep
            text = f"<{type(value).__name__}>"
    return _cap(text, limit)


def _cap(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    keep = max(limit - 30, 10)
    return f"{text[:keep]}... ({len(text) - keep:,} more characters)"


class InputError(Exception):
    """Bad user input. The message names what, where and how to fix it."""

    def __init__(self, message: str, *, path: str | Path | None = None, where: str | None = None,
                 fix: str | None = None):
        parts = []
        if path is not None:
            parts.append(_cap(str(path), 400))
        if where:
            parts.append(_cap(str(where), 400))
        head = ": ".join(parts)
        message = _cap(str(message), MAX_MESSAGE_CHARS)
        text = f"{head}: {message}" if head else message
        if fix:
            text += f" ({_cap(str(fix), 400)})"
        super().__init__(_cap(text, MAX_MESSAGE_CHARS))
        self.path = path


def check_range(value, lo, hi, flag: str, unit: str = ""):
    """`value` if lo <= value <= hi, else an InputError naming the command-line flag and the range
    (sizes are checked before anything is allocated for them)."""
    if value is None:
        return value
    if not (lo <= value <= hi):
        raise InputError(f"{flag} {value} is outside [{lo}, {hi}]{' ' + unit if unit else ''}",
                         where="command line", fix=f"pass {flag} between {lo} and {hi}")
    return value
