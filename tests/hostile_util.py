"""Hand-assembled pickles and other hostile inputs for the robustness tests (built here, never stored).

`P` writes pickle opcodes directly, so a test can build states numpy itself would never pickle
(an object dtype with flags 0, a dtype whose state declares fields, an array whose byte count
does not match its shape...).
"""

from __future__ import annotations

import contextlib
import io
import struct

import numpy as np


class P:
    """Tiny pickle assembler: each method appends opcodes and returns self."""

    def __init__(self):
        self.b = bytearray(b"\x80\x02")

    def glob(self, module: str, name: str):
        self.b += b"c" + module.encode() + b"\n" + name.encode() + b"\n"
        return self

    def text(self, s: str):
        e = s.encode("utf-8")
        self.b += b"X" + struct.pack("<I", len(e)) + e
        return self

    def raw(self, data: bytes):
        self.b += b"B" + struct.pack("<I", len(data)) + data
        return self

    def int(self, i: int):
        if -2**31 <= i < 2**31:
            self.b += b"J" + struct.pack("<i", i)
        else:  # LONG1
            n = (i.bit_length() + 8) // 8
            self.b += b"\x8a" + bytes([n]) + i.to_bytes(n, "little", signed=True)
        return self

    def none(self):
        self.b += b"N"
        return self

    def bool(self, v: bool):
        self.b += b"\x88" if v else b"\x89"
        return self

    def mark(self):
        self.b += b"("
        return self

    def tuple(self):
        self.b += b"t"
        return self

    def reduce(self):
        self.b += b"R"
        return self

    def build(self):
        self.b += b"b"
        return self

    def op(self, raw: bytes):
        self.b += raw
        return self

    def dtype(self, spec: str, state: tuple | None = None):
        """numpy.dtype(spec, False, True) [+ BUILD state] as numpy pickles it."""
        self.glob("numpy", "dtype").mark().text(spec).bool(False).bool(True).tuple().reduce()
        if state is not None:
            self.value(state).build()
        return self

    def value(self, v):
        """A plain value: int, str, bytes, None, bool, tuple or dict of those (recursively)."""
        if v is None:
            return self.none()
        if isinstance(v, bool):
            return self.bool(v)
        if isinstance(v, int):
            return self.int(v)
        if isinstance(v, str):
            return self.text(v)
        if isinstance(v, bytes):
            return self.raw(v)
        if isinstance(v, tuple):
            self.mark()
            for x in v:
                self.value(x)
            return self.tuple()
        if isinstance(v, dict):
            self.op(b"}").mark()
            for k, x in v.items():
                self.value(k).value(x)
            return self.op(b"u")
        raise TypeError(type(v))

    def array(self, shape: tuple, dtype_spec: str, dtype_state: tuple | None, data: bytes | None,
              fortran: bool = False):
        """_reconstruct(ndarray, (0,), b'b') then BUILD (1, shape, dtype, fortran, data)."""
        self.glob("numpy.core.multiarray", "_reconstruct").mark().glob("numpy", "ndarray")
        self.mark().int(0).tuple().raw(b"b").tuple().reduce()
        self.mark().int(1).value(shape).dtype(dtype_spec, dtype_state).bool(fortran)
        self.raw(data) if data is not None else self.none()
        return self.tuple().build()

    def dict_of(self, key: str):
        """Start {key: <next value>}: call .end_dict() after pushing the value."""
        return self.op(b"}").text(key)

    def end_dict(self):
        return self.op(b"s")

    def stop(self) -> bytes:
        return bytes(self.b + b".")


F8_STATE = (3, "<", None, None, None, -1, -1, 0)


SMPL_KEYS = ("v_template", "f", "J_regressor", "weights", "kintree_table", "shapedirs", "posedirs", "poses")


def smpl_dict_pickle(key: str, build_value, keys: tuple = ()) -> bytes:
    """A pickle of {key: value, k: zeros(1) for k in keys} where `build_value(P)` pushes the value;
    `keys=SMPL_KEYS` makes a dict that passes the loaders' key checks, so they touch the value."""
    p = P()
    p.op(b"}")
    for k in keys:
        if k != key:
            p.text(k).array((1,), "f8", F8_STATE, f8([0])).op(b"s")
    p.text(key)
    build_value(p)
    return p.end_dict().stop()


def run_cli(argv: list[str]) -> tuple[int, str]:
    """`neural-render argv` in process: (exit code, stderr)."""
    from neural_render.cli import main

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            rc = main(argv)
        except SystemExit as e:
            rc = e.code
    return int(rc or 0), err.getvalue()


def deep_list_pickle(depth: int, kind: bytes = b"]") -> bytes:
    """depth nested empty lists (b']') or dicts (b'}' with key 'k') as one pickle."""
    if kind == b"]":
        body = b"]" * depth + b"a" * (depth - 1)
    else:
        body = (b"}X\x01\x00\x00\x00k") * (depth - 1) + b"}" + b"s" * (depth - 1)
    return b"\x80\x02" + body + b"."


def deep_tuple_key_pickle(depth: int) -> bytes:
    """{((((...)))): 1}: hashing the key would recurse `depth` levels in C."""
    return b"\x80\x02}" + b")" + b"\x85" * depth + b"K\x01s."


def f8(values) -> bytes:
    return np.asarray(values, "<f8").tobytes()
