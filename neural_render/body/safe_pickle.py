"""A restricted unpickler for SMPL model and parameter files.

Official SMPL `.pkl` files are pickles: v1.1 holds plain numpy arrays, v1.0 holds chumpy objects
and scipy sparse matrices. A pickle can name any Python callable, so loading one from the
internet with `pickle.load` can run arbitrary code. This unpickler admits only plain containers,
numpy arrays and scalars of plain numeric or text dtypes (bool, int, uint, float, bytes, str),
scipy sparse matrices and chumpy `Ch` objects; the last two are rebuilt by small shims here, so
neither scipy nor chumpy is imported (nor needed). Anything else is refused with `InputError`.

Memory safety: numpy's own `dtype.__setstate__` / `ndarray.__setstate__` trust the pickle (a dtype
state can declare an object dtype whose items are raw pointers, a crash or worse), so neither ever
sees pickled state. `numpy.dtype`, `_reconstruct`, `_frombuffer` and `scalar` are replaced by
stand-ins that check the dtype spec and state, then build the array from the raw bytes with a
dtype made here from a short allowlist: no object, structured, sub-array, void or datetime dtypes,
and the byte count must match the declared shape. Before any of that runs, the opcode stream is
scanned (without executing it) for nesting deeper than `MAX_DEPTH`, which would otherwise
overflow the C stack when CPython hashes a deeply nested tuple. See SECURITY.md.
"""

from __future__ import annotations

import copyreg
import io
import math
import pickle
import pickletools
import re
from pathlib import Path

import numpy as np

from neural_render.errors import InputError, _cap, quote

MAX_FILE_BYTES = 2 << 30         # a pickle larger than 2 GiB is refused unread (SMPL-X files are < 1 GiB)
MAX_DEPTH = 64                   # container nesting (SMPL files nest < 10 deep)
MAX_NODES = 1_000_000            # containers + values visited when converting (shared references count each time)
MAX_DENSE_ELEMENTS = 1 << 26     # a sparse matrix may expand to at most 67M elements (SMPL-X posedirs: 15M)
MAX_NDIM = 32                    # numpy's own limit
MAX_TEXT_ITEMSIZE = 1 << 16      # bytes per element of a str/bytes dtype

# Dtype specs as numpy pickles them ('f8', 'i4', 'u1', 'b1', 'U6', 'S3'): plain numeric or text only.
_DTYPE_SPEC = re.compile(r"^[biufSU][0-9]{0,6}$")
_PLAIN_KINDS = "biufSU"


def _refuse(what: str) -> InputError:
    return InputError(f"refused {what} in pickle",
                      fix="SMPL files hold plain numeric arrays; this file may be malicious or damaged")


# ------------------------------------------------------------------------------ numpy stand-ins
class _DType:
    """Stands in for `numpy.dtype(spec, align, copy)` until its pickled state has been checked."""

    spec: str | None = None
    state: tuple | None = None

    def __setstate__(self, state) -> None:
        if not isinstance(state, tuple) or len(state) not in (8, 9) or state[0] not in (3, 4):
            raise _refuse(f"dtype state {_short(state)}")
        _version, endian, subarray, names, fields, elsize, alignment, _flags = state[:8]
        metadata = state[8] if len(state) == 9 else None
        if subarray is not None or names is not None or fields is not None or metadata is not None:
            raise _refuse("structured or sub-array dtype")
        if endian not in ("<", ">", "|", "=") or not all(isinstance(x, int) for x in (elsize, alignment)):
            raise _refuse(f"dtype state {_short(state)}")
        self.state = state

    def resolve(self) -> np.dtype:
        """The real dtype, built here from the checked spec and byte order (never numpy's setstate)."""
        if not isinstance(self.spec, str):
            raise _refuse("dtype without a spec")
        dt = np.dtype(self.spec)
        if self.state is not None:
            endian, elsize = self.state[1], self.state[5]
            if elsize not in (-1, dt.itemsize):
                raise _refuse(f"dtype '{self.spec}' declaring {elsize} bytes per item")
            if endian in ("<", ">") and dt.itemsize > 1:
                dt = dt.newbyteorder(endian)
        return dt


def _dtype(spec=None, align=False, copy=False) -> _DType:
    """`numpy.dtype` as pickles call it: only plain numeric / text specs."""
    if not isinstance(spec, str) or not _DTYPE_SPEC.match(spec):
        raise _refuse(f"dtype {_short(spec)} (only bool, integer, float and text arrays are allowed)")
    itemsize = np.dtype(spec).itemsize
    if itemsize == 0 or (spec[0] in "SU" and itemsize > MAX_TEXT_ITEMSIZE):
        raise _refuse(f"dtype '{spec}' of {itemsize} bytes per item")
    d = _DType()
    d.spec = spec
    return d


def _as_dtype(d) -> np.dtype:
    if not isinstance(d, _DType):
        raise _refuse(f"{type(d).__name__} where a dtype belongs")
    return d.resolve()


class _NDArrayType:
    """The value the pickle's `numpy.ndarray` global resolves to: only a tag for `_reconstruct`."""

    def __repr__(self) -> str:
        return "numpy.ndarray"


_NDARRAY = _NDArrayType()


class _Array:
    """Stands in for an ndarray made by `_reconstruct` until its state (shape, dtype, bytes) is checked."""

    array: np.ndarray | None = None

    def __setstate__(self, state) -> None:
        if isinstance(state, tuple) and len(state) == 5:
            _version, shape, dtype, fortran, raw = state
        elif isinstance(state, tuple) and len(state) == 4:
            shape, dtype, fortran, raw = state
        else:
            raise _refuse(f"array state {_short(state)}")
        dt = _as_dtype(dtype)
        if isinstance(raw, str):  # Python 2 pickles: the bytes arrive as latin-1 text
            raw = raw.encode("latin1")
        if not isinstance(raw, (bytes, bytearray)):
            raise _refuse("array of Python objects")
        self.array = _from_bytes(raw, dt, shape, "F" if fortran else "C")


def _from_bytes(raw, dt: np.dtype, shape, order: str) -> np.ndarray:
    """A writable array of `shape` from exactly prod(shape) * itemsize bytes."""
    if isinstance(shape, int):
        shape = (shape,)
    if (not isinstance(shape, tuple) or len(shape) > MAX_NDIM
            or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in shape)):
        raise _refuse(f"array shape {_short(shape)}")
    if math.prod(shape) * dt.itemsize != len(raw):
        raise _refuse(f"array of shape {shape} and dtype {dt} with {len(raw)} bytes of data")
    return np.ndarray(shape, dt, buffer=bytearray(raw), order=order)


def _reconstruct(subtype, shape, typecode) -> _Array:
    """`numpy.core.multiarray._reconstruct`: an empty array to be filled by BUILD."""
    if subtype is not _NDARRAY:
        raise _refuse(f"array subtype {_short(subtype)}")
    return _Array()


def _frombuffer(buf, dtype, shape, order) -> np.ndarray:
    """`numpy.core.numeric._frombuffer` (protocol 5 pickles)."""
    if isinstance(buf, pickle.PickleBuffer):
        buf = buf.raw().tobytes()
    if not isinstance(buf, (bytes, bytearray)):
        raise _refuse(f"array buffer {type(buf).__name__}")
    return _from_bytes(buf, _as_dtype(dtype), shape, "F" if order == "F" else "C")


def _scalar(dtype, obj=None):
    """`numpy.core.multiarray.scalar`: one item of a plain dtype from its bytes."""
    dt = _as_dtype(dtype)
    if isinstance(obj, str):  # Python 2 pickles
        obj = obj.encode("latin1")
    if not isinstance(obj, bytes) or len(obj) != dt.itemsize:
        raise _refuse(f"numpy scalar of dtype {dt} from {_short(obj)}")
    return np.frombuffer(obj, dt)[0]


# ------------------------------------------------------------------------------ foreign classes
class _StateHolder:
    """Stands in for an admitted foreign class: keeps the pickled state for conversion later."""

    def __setstate__(self, state):
        if isinstance(state, tuple) and len(state) == 2 and isinstance(state[1], dict):
            state = state[1]  # (slot state, dict state) form
        self.__dict__["_state"] = state if isinstance(state, dict) else {"_raw": state}

    @property
    def state(self) -> dict:
        st = self.__dict__.get("_state")
        if st is None:
            raise InputError(f"{self.kind} object without state in pickle",
                             fix="re-save the model as plain numpy (SMPL v1.1)")
        return st

    kind = "foreign"


class ChumpyShim(_StateHolder):
    """chumpy.ch.Ch: the array is its `x`."""

    kind = "chumpy"

    def to_numpy(self, convert) -> np.ndarray:
        st = self.state
        if "x" not in st:
            raise InputError("chumpy object without an 'x' array", fix="re-save the model as plain numpy (SMPL v1.1)")
        return _numeric(convert(st["x"]), "chumpy 'x'")


class SparseShim(_StateHolder):
    """scipy.sparse csc/csr/coo matrix, any scipy version's state layout."""

    fmt = "csc"
    kind = "sparse matrix"

    def to_numpy(self, convert) -> np.ndarray:
        st = convert(self.state)
        shape = st.get("_shape", st.get("shape"))
        if (not isinstance(shape, tuple) or len(shape) != 2
                or not all(isinstance(s, (int, np.integer)) and 0 <= s for s in shape)):
            raise _refuse(f"sparse matrix shape {_short(shape)}")
        shape = (int(shape[0]), int(shape[1]))
        if shape[0] * shape[1] > MAX_DENSE_ELEMENTS:
            raise InputError(f"sparse matrix of shape {shape} would need {shape[0] * shape[1]:,} dense elements "
                             f"(limit {MAX_DENSE_ELEMENTS:,})", fix="SMPL matrices are far smaller; the file is damaged or hostile")
        data = _numeric(st.get("data"), "sparse data").reshape(-1)
        if self.fmt == "coo":
            rows, cols = st.get("row"), st.get("col")
            if rows is None or cols is None:
                coords = st.get("coords")
                if not isinstance(coords, tuple) or len(coords) != 2:
                    raise _refuse("coo matrix without coordinates")
                rows, cols = coords
            rows, cols = _index(rows, shape[0], len(data)), _index(cols, shape[1], len(data))
        else:
            n_major = shape[1] if self.fmt == "csc" else shape[0]
            n_minor = shape[0] if self.fmt == "csc" else shape[1]
            indptr = _index(st.get("indptr"), len(data) + 1, n_major + 1)
            if indptr[0] != 0 or indptr[-1] != len(data) or np.any(np.diff(indptr) < 0):
                raise _refuse("sparse matrix with an inconsistent indptr")
            minor = _index(st.get("indices"), n_minor, len(data))
            major = np.repeat(np.arange(n_major), np.diff(indptr))
            rows, cols = (minor, major) if self.fmt == "csc" else (major, minor)
        out = np.zeros(shape, dtype=data.dtype)
        np.add.at(out, (rows, cols), data)
        return out


def _numeric(a, what: str) -> np.ndarray:
    if not isinstance(a, np.ndarray) or a.dtype.kind not in "biuf":
        raise _refuse(f"{what} of type {getattr(a, 'dtype', type(a).__name__)}")
    return a


def _index(a, bound: int, length: int) -> np.ndarray:
    """An integer index array of `length` entries, each in [0, bound)."""
    if not isinstance(a, np.ndarray) or a.dtype.kind not in "iu" or a.ndim != 1 or len(a) != length:
        raise _refuse("sparse matrix index array of the wrong type or length")
    if len(a) and (a.min() < 0 or a.max() >= bound):
        raise _refuse("sparse matrix index out of range")
    return a.astype(np.int64)


def _sparse(fmt: str):
    return type(f"Sparse_{fmt}", (SparseShim,), {"fmt": fmt})


_SPARSE = {f: _sparse(f) for f in ("csc", "csr", "coo")}


# ------------------------------------------------------------------------------ builtins
def _latin1_encode(text, encoding="latin1", errors="strict"):
    """`_codecs.encode` as protocol-2 pickles use it for bytes; other codecs are refused."""
    if not isinstance(text, str) or not isinstance(encoding, str) or errors != "strict":
        raise _refuse("_codecs.encode call")
    if encoding.lower().replace("-", "").replace("_", "") not in ("latin1", "iso88591"):
        raise InputError(f"refused codec '{_short(encoding)}' in pickle")
    return text.encode("latin1")


def _bytes(*args):
    """`bytes` as protocol-2 pickles of empty arrays use it: only `bytes()` or from text/bytes
    (never `bytes(n)`, which would allocate n bytes on the pickle's say-so)."""
    if not args:
        return b""
    if isinstance(args[0], (bytes, bytearray)):
        return bytes(args[0])
    if isinstance(args[0], str) and len(args) >= 2:
        return _latin1_encode(args[0], args[1])
    raise _refuse("bytes() call")


def _container(kind):
    """`set` / `frozenset` / `collections.OrderedDict` (-> dict) from one iterable of admitted values."""
    def make(*args):
        if len(args) > 1 or (args and not isinstance(args[0], (list, tuple, set, frozenset, dict))):
            raise _refuse(f"{kind.__name__}() call")
        return kind(*args)
    return make


_ALLOWED = {
    ("_codecs", "encode"): _latin1_encode,
    ("__builtin__", "bytes"): _bytes, ("builtins", "bytes"): _bytes,
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy.core.multiarray", "scalar"): _scalar,
    ("numpy._core.multiarray", "scalar"): _scalar,
    ("numpy", "ndarray"): _NDARRAY,
    ("numpy", "dtype"): _dtype,
    ("numpy.core.numeric", "_frombuffer"): _frombuffer,
    ("numpy._core.numeric", "_frombuffer"): _frombuffer,
    ("copy_reg", "_reconstructor"): copyreg._reconstructor,
    ("copyreg", "_reconstructor"): copyreg._reconstructor,
    ("__builtin__", "object"): object,
    ("builtins", "object"): object,
    ("collections", "OrderedDict"): _container(dict),
    ("__builtin__", "set"): _container(set), ("builtins", "set"): _container(set),
    ("__builtin__", "frozenset"): _container(frozenset), ("builtins", "frozenset"): _container(frozenset),
}


def _find_shim(module: str, name: str):
    if module.startswith("chumpy") and name == "Ch":
        return ChumpyShim
    if module.startswith("scipy.sparse") and name in ("csc_matrix", "csr_matrix", "coo_matrix",
                                                       "csc_array", "csr_array", "coo_array"):
        return _SPARSE[name[:3]]
    return None


class RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file, source: str):
        super().__init__(file, encoding="latin1")
        self.source = source

    def find_class(self, module: str, name: str):
        obj = _ALLOWED.get((module, name))
        if obj is not None:
            return obj
        shim = _find_shim(module, name)
        if shim is not None:
            return shim
        raise InputError(
            f"refused to unpickle global '{_cap(module, 80)}.{_cap(name, 80)}': only numpy arrays, scipy sparse "
            "matrices and chumpy arrays are allowed in SMPL files",
            path=self.source, fix="this file may be malicious or not an SMPL file; convert it to .npz")


# ------------------------------------------------------------------------------ opcode pre-scan
_SCALAR_OPS = {
    "INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4", "STRING", "BINSTRING",
    "SHORT_BINSTRING", "BINBYTES", "SHORT_BINBYTES", "BINBYTES8", "BYTEARRAY8", "NONE", "NEWTRUE",
    "NEWFALSE", "UNICODE", "SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "FLOAT", "BINFLOAT",
    "GLOBAL", "EXT1", "EXT2", "EXT4", "PERSID", "NEXT_BUFFER"}


def check_nesting(data: bytes, limit: int = MAX_DEPTH) -> None:
    """Refuse a pickle whose containers nest deeper than `limit`, without executing it.

    Runs the pickle machine abstractly: each stack item is a cell holding the nesting depth of the
    value it stands for (cells are shared through the memo, so later appends are seen)."""
    stack: list = []
    marks: list[int] = []
    memo: dict = {}

    def pop_mark() -> list:
        if not marks:
            raise _refuse("malformed opcode stream")
        k = marks.pop()
        items = stack[k:]
        del stack[k:]
        return items

    def deepest(items) -> int:
        return max((c[0] for c in items), default=0)

    def grow(cell: list, d: int) -> None:
        cell[0] = max(cell[0], d)
        if cell[0] > limit:
            raise InputError(f"pickle nests containers deeper than {limit} levels",
                             fix="SMPL files nest a few levels; this file is damaged or hostile")

    try:
        for op, arg, _pos in pickletools.genops(data):
            n = op.name
            if n in _SCALAR_OPS:
                stack.append([0])
            elif n in ("EMPTY_LIST", "EMPTY_TUPLE", "EMPTY_DICT", "EMPTY_SET"):
                stack.append([1])
            elif n == "MARK":
                marks.append(len(stack))
            elif n in ("LIST", "TUPLE", "DICT", "FROZENSET", "INST", "OBJ"):
                c = [0]
                grow(c, 1 + deepest(pop_mark()))
                stack.append(c)
            elif n in ("TUPLE1", "TUPLE2", "TUPLE3"):
                k = int(n[-1])
                items = stack[len(stack) - k:]
                if len(items) != k:
                    raise _refuse("malformed opcode stream")
                del stack[len(stack) - k:]
                c = [0]
                grow(c, 1 + deepest(items))
                stack.append(c)
            elif n in ("APPEND", "SETITEM", "BUILD"):
                items = [stack.pop() for _ in range(2 if n == "SETITEM" else 1)]
                grow(stack[-1], 1 + deepest(items))
            elif n in ("APPENDS", "SETITEMS", "ADDITEMS"):
                items = pop_mark()
                grow(stack[-1], 1 + deepest(items))
            elif n in ("REDUCE", "NEWOBJ"):
                args = stack.pop()
                stack.pop()
                stack.append([args[0]])
            elif n == "NEWOBJ_EX":
                kw, args = stack.pop(), stack.pop()
                stack.pop()
                stack.append([max(kw[0], args[0])])
            elif n == "STACK_GLOBAL":
                stack.pop(), stack.pop()
                stack.append([0])
            elif n == "BINPERSID":
                stack.pop()
                stack.append([0])
            elif n == "POP":
                if stack and (not marks or marks[-1] < len(stack)):
                    stack.pop()
                else:
                    pop_mark()
            elif n == "POP_MARK":
                pop_mark()
            elif n == "DUP":
                stack.append(stack[-1])
            elif n in ("PUT", "BINPUT", "LONG_BINPUT"):
                memo[arg] = stack[-1]
            elif n == "MEMOIZE":
                memo[len(memo)] = stack[-1]
            elif n in ("GET", "BINGET", "LONG_BINGET"):
                if arg not in memo:
                    raise _refuse("malformed opcode stream")
                stack.append(memo[arg])
            elif n in ("PROTO", "FRAME", "STOP", "READONLY_BUFFER"):
                pass
            else:
                raise _refuse(f"opcode {n}")
    except IndexError:
        raise _refuse("malformed opcode stream") from None
    except ValueError as e:  # genops: truncated or unknown opcode
        raise InputError(f"not a readable pickle ({_short(str(e))})", fix="check the file is complete") from None


# ------------------------------------------------------------------------------ conversion
class _Converter:
    """Shims -> numpy arrays, through containers; bounded depth and node count."""

    def __init__(self):
        self.nodes = 0

    def __call__(self, obj, depth: int = 0):
        self.nodes += 1
        if depth > MAX_DEPTH:
            raise InputError(f"pickle nests containers deeper than {MAX_DEPTH} levels",
                             fix="SMPL files nest a few levels; this file is damaged or hostile")
        if self.nodes > MAX_NODES:
            raise InputError(f"pickle holds more than {MAX_NODES:,} values (counting shared ones each time)",
                             fix="SMPL files hold a few dozen arrays; this file is damaged or hostile")
        if isinstance(obj, _Array):
            if obj.array is None:
                raise _refuse("array without state")
            return obj.array
        if isinstance(obj, (ChumpyShim, SparseShim)):
            return obj.to_numpy(lambda v: self(v, depth + 1))
        if isinstance(obj, dict):
            return {self(k, depth + 1): self(v, depth + 1) for k, v in obj.items()}
        if isinstance(obj, (list, tuple, set, frozenset)):
            return type(obj)(self(v, depth + 1) for v in obj)
        if obj is None or isinstance(obj, (bool, int, float, str, bytes, bytearray)):
            return obj
        if isinstance(obj, (np.ndarray, np.generic)) and obj.dtype.kind in _PLAIN_KINDS:
            return obj
        raise _refuse(f"object of type {type(obj).__name__}")


def to_plain(obj):
    """Replace shims and stand-ins by numpy arrays, through dicts, lists, tuples and sets.

    Refuses anything that is not a plain container, a plain value or a plain numeric/text array."""
    return _Converter()(obj)


def _short(v, n: int = 80) -> str:
    return quote(v, n)


def safe_load_pickle(path: str | Path):
    """Load a pickle through the restricted unpickler; shims become numpy arrays."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise InputError(f"pickle of {size:,} bytes is larger than the {MAX_FILE_BYTES:,} byte limit", path=path)
        data = path.read_bytes()
    except OSError as e:
        raise InputError(f"cannot read: {e.strerror}", path=path) from None
    try:
        check_nesting(data)
        obj = RestrictedUnpickler(io.BytesIO(data), str(path)).load()
        return to_plain(obj)
    except InputError as e:
        if e.path is None:
            raise InputError(str(e), path=path) from None
        raise
    except Exception as e:  # truncated or garbled pickle
        raise InputError(f"not a readable pickle ({type(e).__name__}: {_short(str(e))})", path=path,
                         fix="check the file is complete") from None
