"""Hostile pickles: every one is built here, opcode by opcode, and must be refused cleanly (exit 2),
never crash the process, never allocate on the pickle's say-so. See SECURITY.md."""

import pickle
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hostile_util import (F8_STATE, SMPL_KEYS, P, deep_list_pickle, deep_tuple_key_pickle, f8, run_cli,
                          smpl_dict_pickle)
from neural_render.body.safe_pickle import safe_load_pickle
from neural_render.errors import InputError

# The payload: an object dtype rebuilt from its state with flags 0, then raw bytes as the
# array's data, i.e. attacker-chosen pointers.
def _pointers(key: str) -> bytes:
    return smpl_dict_pickle(key, lambda p: p.array((2,), "O8", (3, "|", None, None, None, 8, 8, 0), b"\x41" * 16),
                            keys=SMPL_KEYS)


OBJECT_POINTERS = _pointers("v_template")


def _hostile_cases() -> dict[str, bytes]:
    def arr(shape, spec, state, data, **kw):
        return smpl_dict_pickle("poses", lambda p: p.array(shape, spec, state, data, **kw))

    obj_field = (3, "|", None, ("a",), {"a": ("O-placeholder", 0)}, 8, 8, 0)
    cases = {
        "object dtype, flags 0": OBJECT_POINTERS,
        "object dtype, list data": smpl_dict_pickle(
            "poses", lambda p: p.glob("numpy.core.multiarray", "_reconstruct").mark().glob("numpy", "ndarray")
            .mark().int(0).tuple().raw(b"b").tuple().reduce().mark().int(1).value((1,))
            .dtype("O8", (3, "|", None, None, None, 8, 8, 63)).bool(False).op(b"]").int(5).op(b"a")
            .tuple().build()),
        "float dtype, list data": smpl_dict_pickle(
            "poses", lambda p: p.glob("numpy.core.multiarray", "_reconstruct").mark().glob("numpy", "ndarray")
            .mark().int(0).tuple().raw(b"b").tuple().reduce().mark().int(1).value((1,))
            .dtype("f8", F8_STATE).bool(False).op(b"]").int(5).op(b"a").tuple().build()),
        "void dtype with fields": arr((2,), "V8", (3, "|", None, ("a",), {"a": (None, 0)}, 8, 1, 16), b"\0" * 16),
        "float dtype whose state declares fields": arr((2,), "f8", obj_field, b"\0" * 16),
        "sub-array dtype state": arr((2,), "f8", (3, "|", (None, (2,)), None, None, 16, 8, 0), b"\0" * 32),
        "dtype state with metadata": arr((2,), "f8", (3, "<", None, None, None, -1, -1, 0, {"a": 1}), f8([1, 2])),
        "elsize larger than the item": arr((2,), "f8", (3, "<", None, None, None, 4096, 8, 0), f8([1, 2])),
        "text elsize larger than the item": arr((1,), "U4", (3, "<", None, None, None, 4096, 4, 8), b"a\0\0\0" * 4),
        "shape larger than the data": arr((1000, 1000), "f8", F8_STATE, f8([1, 2])),
        "negative shape": arr((-1,), "f8", F8_STATE, f8([1])),
        "zero itemsize": arr((10**12,), "U0", None, b""),
        "datetime dtype": arr((1,), "M8", None, b"\0" * 8),
        "complex dtype": arr((1,), "c16", None, b"\0" * 16),
        "old dtype state version": arr((1,), "f8", (2, "<", None, None, None, -1, -1), f8([1])),
        "object scalar": smpl_dict_pickle(
            "poses", lambda p: p.glob("numpy.core.multiarray", "scalar").mark()
            .dtype("O8", (3, "|", None, None, None, 8, 8, 0)).raw(b"\x41" * 8).tuple().reduce()),
        "scalar with short data": smpl_dict_pickle(
            "poses", lambda p: p.glob("numpy.core.multiarray", "scalar").mark()
            .dtype("f8", F8_STATE).raw(b"\x41" * 3).tuple().reduce()),
        "frombuffer object dtype": smpl_dict_pickle(
            "poses", lambda p: p.glob("numpy.core.numeric", "_frombuffer").mark().raw(b"\x41" * 8)
            .dtype("O8", (3, "|", None, None, None, 8, 8, 0)).value((1,)).text("C").tuple().reduce()),
        "reconstructor on ndarray": smpl_dict_pickle(
            "poses", lambda p: p.glob("copyreg", "_reconstructor").mark().glob("numpy", "ndarray")
            .glob("numpy", "ndarray").value((0,)).tuple().reduce()),
        "reconstruct of another subtype": smpl_dict_pickle(
            "poses", lambda p: p.glob("numpy.core.multiarray", "_reconstruct").mark().glob("builtins", "object")
            .mark().int(0).tuple().raw(b"b").tuple().reduce()),
        "array without state": smpl_dict_pickle(
            "poses", lambda p: p.glob("numpy.core.multiarray", "_reconstruct").mark().glob("numpy", "ndarray")
            .mark().int(0).tuple().raw(b"b").tuple().reduce()),
        "dtype used as an array": smpl_dict_pickle("poses", lambda p: p.dtype("f8", F8_STATE)),
        "bytes(n) allocation": smpl_dict_pickle(
            "poses", lambda p: p.glob("builtins", "bytes").mark().int(2**31 - 1).tuple().reduce()),
        "chumpy without state": smpl_dict_pickle(
            "v_template", lambda p: p.glob("copyreg", "_reconstructor").mark().glob("chumpy.ch", "Ch")
            .glob("builtins", "object").none().tuple().reduce()),
        "chumpy with string x": smpl_dict_pickle(
            "v_template", lambda p: p.glob("copyreg", "_reconstructor").mark().glob("chumpy.ch", "Ch")
            .glob("builtins", "object").none().tuple().reduce().value({"x": "abc"}).build()),
        "sparse 1e9 x 1e9": smpl_dict_pickle(
            "J_regressor", lambda p: p.glob("copyreg", "_reconstructor").mark().glob("scipy.sparse._csc", "csc_matrix")
            .glob("builtins", "object").none().tuple().reduce()
            .op(b"}").text("_shape").value((10**9, 10**9)).op(b"s").build()),
        "sparse index out of range": smpl_dict_pickle(
            "J_regressor", lambda p: p.glob("copyreg", "_reconstructor").mark().glob("scipy.sparse._csc", "csc_matrix")
            .glob("builtins", "object").none().tuple().reduce()
            .op(b"}").text("_shape").value((2, 2)).op(b"s")
            .text("data").array((1,), "f8", F8_STATE, f8([1])).op(b"s")
            .text("indices").array((1,), "i8", F8_STATE, np.array([7], "<i8").tobytes()).op(b"s")
            .text("indptr").array((3,), "i8", F8_STATE, np.array([0, 1, 1], "<i8").tobytes()).op(b"s").build()),
        "200k nested lists": deep_list_pickle(200_000),
        "5k nested dicts": deep_list_pickle(5_000, b"}"),
        "deep tuple as a dict key": deep_tuple_key_pickle(1_000_000),
        "frozenset of a deep tuple": b"\x80\x02cbuiltins\nfrozenset\n]" + b")" + b"\x85" * 500_000 + b"a\x85R.",
        "self-referencing list": b"\x80\x02]q\x00h\x00a.",
        "billion laughs through the memo": b"\x80\x02]q\x00" + b"".join(
            b"(h%sh%stq%s" % (bytes([i]), bytes([i]), bytes([i + 1])) for i in range(40)) + b".",
        "truncated": OBJECT_POINTERS[:-30],
    }
    return cases


HOSTILE = _hostile_cases()


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_pickle_is_refused(tmp_path, name):
    p = tmp_path / "m.pkl"
    p.write_bytes(HOSTILE[name])
    with pytest.raises(InputError) as e:
        safe_load_pickle(p)
    assert str(p) in str(e.value) and len(str(e.value)) < 2100


@pytest.mark.parametrize("name", ["object dtype, flags 0", "object scalar", "5k nested dicts", "sparse 1e9 x 1e9",
                                  "deep tuple as a dict key", "chumpy without state", "chumpy with string x"])
def test_hostile_pickle_cli_exit_2(tmp_path, name):
    p = tmp_path / "m.pkl"
    p.write_bytes(HOSTILE[name])
    rc, err = run_cli(["body", "info", "--model", str(p)])
    assert rc == 2 and err.startswith("error: ") and err.count("\n") == 1, err
    rc, err = run_cli(["motion", "import", str(p), "--format", "smpl", "--out", str(tmp_path / "o.npz")])
    assert rc == 2 and err.count("\n") == 1, err
    assert not (tmp_path / "o.npz").exists()


def test_segfault_payload_in_a_real_process(tmp_path):
    """The process boundary is the point: the payload once ended in SIGSEGV (exit 139)."""
    p = tmp_path / "m.pkl"
    for key, argv in (("v_template", ["body", "info", "--model", str(p)]),
                      ("poses", ["motion", "import", str(p), "--format", "smpl", "--out", str(tmp_path / "o.npz")])):
        p.write_bytes(_pointers(key))
        r = subprocess.run([sys.executable, "-m", "neural_render", *argv], capture_output=True, text=True)
        assert r.returncode == 2, (r.returncode, r.stderr)
        assert "refused" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("value", [
    np.zeros((2, 3)), np.arange(6, dtype=">i4").reshape(2, 3), np.asfortranarray(np.ones((3, 2), np.float32)),
    np.array(["male"]), np.str_("female"), np.float64(1.5), np.int64(-3), np.array([True, False]),
    np.zeros((0, 3)), np.array(b"ab"), np.float16([1, 2])])
@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_plain_numpy_values_round_trip(tmp_path, value, protocol):
    p = tmp_path / "v.pkl"
    p.write_bytes(pickle.dumps({"v": value, "nest": [(1, 2.0), {"a": None}]}, protocol=protocol))
    back = safe_load_pickle(p)
    assert back["nest"] == [(1, 2.0), {"a": None}]
    assert np.asarray(back["v"]).dtype == np.asarray(value).dtype
    np.testing.assert_array_equal(back["v"], value)
    if isinstance(back["v"], np.ndarray) and back["v"].size:
        back["v"].flat[0] = back["v"].flat[0]  # writable


def test_sparse_round_trip(tmp_path):
    import scipy.sparse

    dense = np.zeros((5, 7))
    dense[1, 2], dense[4, 6], dense[0, 0] = 1.5, -2.0, 3.0
    for fmt in ("csc", "csr", "coo"):
        p = tmp_path / f"{fmt}.pkl"
        p.write_bytes(pickle.dumps({"m": getattr(scipy.sparse, f"{fmt}_matrix")(dense)}, protocol=2))
        np.testing.assert_array_equal(safe_load_pickle(p)["m"], dense)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzz_mutated_pickles(tmp_path, data):
    """Byte flips, cuts and splices of valid and hostile pickles: a value or InputError, never a crash."""
    base = data.draw(st.sampled_from([pickle.dumps({"poses": np.zeros((2, 72)), "b": [1, (2,)]}, protocol=2),
                                      pickle.dumps({"x": np.arange(4.0)}, protocol=4),
                                      OBJECT_POINTERS, HOSTILE["sparse index out of range"]]))
    blob = bytearray(base)
    for _ in range(data.draw(st.integers(1, 6))):
        i = data.draw(st.integers(0, len(blob) - 1))
        blob[i] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        blob = blob[: data.draw(st.integers(0, len(blob)))]
    p = tmp_path / "f.pkl"
    p.write_bytes(bytes(blob))
    try:
        out = safe_load_pickle(p)
    except InputError:
        return
    stack = [out]
    while stack:  # whatever comes back is plain: containers, plain scalars, numeric/text arrays
        v = stack.pop()
        if isinstance(v, dict):
            stack += list(v.keys()) + list(v.values())
        elif isinstance(v, (list, tuple, set, frozenset)):
            stack += list(v)
        elif isinstance(v, (np.ndarray, np.generic)):
            assert v.dtype.kind in "biufSU"
        else:
            assert v is None or isinstance(v, (bool, int, float, str, bytes, bytearray))
