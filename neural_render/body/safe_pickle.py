"""A restricted unpickler for SMPL model and parameter files.

Official SMPL `.pkl` files are pickles: v1.1 holds plain numpy arrays, v1.0 holds chumpy objects
and scipy sparse matrices. A pickle can name any Python callable, so loading one from the
internet with `pickle.load` can run arbitrary code. This unpickler admits only numpy arrays and
scalars, plain containers, scipy sparse matrices and chumpy `Ch` objects; the last two are
rebuilt by small shims here, so neither scipy nor chumpy is imported (nor needed).
Anything else is refused with `InputError`.
"""

from __future__ import annotations

import copyreg
import io
import pickle
from pathlib import Path

import numpy as np

from neural_render.errors import InputError


class _StateHolder:
    """Stands in for an admitted foreign class: keeps the pickled state for conversion later."""

    def __setstate__(self, state):
        if isinstance(state, tuple) and len(state) == 2 and isinstance(state[1], dict):
            state = state[1]  # (slot state, dict state) form
        self.__dict__["_state"] = state if isinstance(state, dict) else {"_raw": state}


class ChumpyShim(_StateHolder):
    """chumpy.ch.Ch: the array is its `x`."""

    def to_numpy(self) -> np.ndarray:
        st = self._state
        if "x" not in st:
            raise InputError("chumpy object without an 'x' array", fix="re-save the model as plain numpy (SMPL v1.1)")
        return to_plain(st["x"])


class SparseShim(_StateHolder):
    """scipy.sparse csc/csr/coo matrix, any scipy version's state layout."""

    fmt = "csc"

    def to_numpy(self) -> np.ndarray:
        st = self._state
        shape = tuple(int(s) for s in (st.get("_shape") or st.get("shape")))
        data = np.asarray(st["data"])
        out = np.zeros(shape, dtype=data.dtype)
        if self.fmt == "coo":
            r, c = np.asarray(st.get("row")), np.asarray(st.get("col"))
            if r is None or c is None:
                r, c = st["coords"]
            np.add.at(out, (np.asarray(r), np.asarray(c)), data)
            return out
        indices, indptr = np.asarray(st["indices"]), np.asarray(st["indptr"])
        major = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))
        if self.fmt == "csc":
            np.add.at(out, (indices, major), data)
        else:
            np.add.at(out, (major, indices), data)
        return out


def _sparse(fmt: str):
    return type(f"Sparse_{fmt}", (SparseShim,), {"fmt": fmt})


def _latin1_encode(text, encoding="latin1", errors="strict"):
    """`_codecs.encode` as protocol-2 pickles use it for bytes; other codecs are refused."""
    if encoding.lower().replace("-", "") not in ("latin1", "iso88591"):
        raise InputError(f"refused codec '{encoding}' in pickle")
    return text.encode("latin1", errors)


def _bytes(*args):
    """`bytes` as protocol-2 pickles of empty arrays use it: only `bytes()` or from text/bytes
    (never `bytes(n)`, which would allocate n bytes on the pickle's say-so)."""
    if not args:
        return b""
    if isinstance(args[0], (bytes, bytearray)):
        return bytes(args[0])
    if isinstance(args[0], str) and len(args) >= 2:
        return _latin1_encode(args[0], args[1])
    raise InputError("refused bytes() call in pickle")


_NUMPY_ALLOWED = {
    ("_codecs", "encode"): _latin1_encode,
    ("__builtin__", "bytes"): _bytes, ("builtins", "bytes"): _bytes,
    ("numpy.core.multiarray", "_reconstruct"): np.core.multiarray._reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): np.core.multiarray._reconstruct,
    ("numpy.core.multiarray", "scalar"): np.core.multiarray.scalar,
    ("numpy._core.multiarray", "scalar"): np.core.multiarray.scalar,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("numpy.core.numeric", "_frombuffer"): getattr(np.core.numeric, "_frombuffer", None),
    ("numpy._core.numeric", "_frombuffer"): getattr(np.core.numeric, "_frombuffer", None),
    ("copy_reg", "_reconstructor"): copyreg._reconstructor,
    ("copyreg", "_reconstructor"): copyreg._reconstructor,
    ("__builtin__", "object"): object,
    ("builtins", "object"): object,
    ("collections", "OrderedDict"): dict,
    ("__builtin__", "set"): set, ("builtins", "set"): set,
    ("__builtin__", "frozenset"): frozenset, ("builtins", "frozenset"): frozenset,
}
_SHIMS = {"Ch": ChumpyShim}


def _find_shim(module: str, name: str):
    if module.startswith("chumpy") and name == "Ch":
        return ChumpyShim
    if module.startswith("scipy.sparse") and name in ("csc_matrix", "csr_matrix", "coo_matrix",
                                                       "csc_array", "csr_array", "coo_array"):
        return _SPARSE[name[:3]]
    return None


_SPARSE = {f: _sparse(f) for f in ("csc", "csr", "coo")}


class RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file, source: str):
        super().__init__(file, encoding="latin1")
        self.source = source

    def find_class(self, module: str, name: str):
        obj = _NUMPY_ALLOWED.get((module, name))
        if obj is not None:
            return obj
        shim = _find_shim(module, name)
        if shim is not None:
            return shim
        raise InputError(
            f"refused to unpickle global '{module}.{name}': only numpy arrays, scipy sparse matrices "
            "and chumpy arrays are allowed in SMPL files",
            path=self.source, fix="this file may be malicious or not an SMPL file; convert it to .npz")


def to_plain(obj):
    """Replace shims by numpy arrays, recursively through dicts, lists and tuples."""
    if isinstance(obj, (ChumpyShim, SparseShim)):
        return obj.to_numpy()
    if isinstance(obj, _StateHolder):
        raise InputError("unsupported object in pickle")
    if isinstance(obj, dict):
        return {k: to_plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_plain(v) for v in obj)
    return obj


def safe_load_pickle(path: str | Path):
    """Load a pickle through the restricted unpickler; shims become numpy arrays."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise InputError(f"cannot read: {e.strerror}", path=path) from None
    try:
        obj = RestrictedUnpickler(io.BytesIO(data), str(path)).load()
    except InputError:
        raise
    except Exception as e:  # truncated or garbled pickle
        raise InputError(f"not a readable pickle ({type(e).__name__}: {e})", path=path,
                         fix="check the file is complete") from None
    return to_plain(obj)
