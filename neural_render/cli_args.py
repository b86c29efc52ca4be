"""Argument parsing and result printing the sub-commands share (numpy-free, no package imports
beyond errors)."""

from __future__ import annotations

import json

from neural_render.errors import InputError


def frame_range(spec: str | None, where: str = "--frames") -> tuple[int, int | None] | None:
    """"A:B" -> (A, B) motion frame indices, B exclusive; "A:" -> (A, None); ":B" -> (0, B); None/"" -> None."""
    if not spec:
        return None
    try:
        a, b = spec.split(":")
        return int(a or 0), (int(b) if b else None)
    except ValueError:
        raise InputError(f"bad frame range {spec!r}", where=where, fix="use A:B, e.g. 0:300") from None


def print_result(result: dict, as_json: bool) -> None:
    """A command's result on stdout: indented JSON, or one `key: value` line per entry."""
    if as_json:
        print(json.dumps(result, indent=2))
    else:
        for k, v in result.items():
            print(f"{k}: {v}")
