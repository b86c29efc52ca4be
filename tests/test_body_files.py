"""SMPL model files: restricted unpickling, v1.0/v1.1/npz loading, LBS parity numpy == torch == smplx."""

import os
import pickle
import sys

import numpy as np
import pytest

from neural_render.body import load_body
from neural_render.body.safe_pickle import safe_load_pickle
from neural_render.errors import InputError
from cli_run import run_cli


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch pwned_marker",))


def test_malicious_pickle_is_refused(tmp_path):
    bad = tmp_path / "evil.pkl"
    bad.write_bytes(pickle.dumps({"v_template": _Evil()}))
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        with pytest.raises(InputError, match="refused to unpickle global 'posix.system'"):
            load_body(bad)
    finally:
        os.chdir(cwd)
    assert not (tmp_path / "pwned_marker").exists()


def test_malicious_pickle_cli_exit_2(tmp_path):
    bad = tmp_path / "evil.pkl"
    bad.write_bytes(pickle.dumps(_Evil()))
    r = run_cli(["body", "info", "--model", str(bad)], cwd=tmp_path)
    assert r.returncode == 2
    assert "refused to unpickle" in r.stderr
    assert not (tmp_path / "pwned_marker").exists()


def test_v11_numpy_pickle_loads(tmp_path, synthetic_smpl):
    p = tmp_path / "SMPL_NEUTRAL.pkl"
    p.write_bytes(pickle.dumps(synthetic_smpl, protocol=2))
    body = load_body(p)
    assert body.num_vertices == 6890 and body.num_betas == 10
    np.testing.assert_allclose(body.v_template, synthetic_smpl["v_template"], atol=1e-6)
    assert list(body.parents[:4]) == [-1, 0, 0, 0]
    # folder lookup by gender name
    assert load_body(tmp_path).num_vertices == 6890


class _FakeCh:
    """Pickles like chumpy.ch.Ch (module/class name and a state dict holding x)."""

    def __init__(self, x):
        self.x = x
        self._dirty = True


_FakeCh.__module__ = "chumpy.ch"
_FakeCh.__qualname__ = "Ch"
_FakeCh.__name__ = "Ch"


def test_v10_chumpy_and_sparse_pickle_loads(tmp_path, synthetic_smpl, monkeypatch):
    import scipy.sparse

    import types
    fake = types.ModuleType("chumpy.ch")
    fake.Ch = _FakeCh
    monkeypatch.setitem(sys.modules, "chumpy", types.ModuleType("chumpy"))
    monkeypatch.setitem(sys.modules, "chumpy.ch", fake)
    d = dict(synthetic_smpl)
    for k in ("v_template", "shapedirs", "posedirs", "weights"):
        d[k] = _FakeCh(d[k])
    d["J_regressor"] = scipy.sparse.csc_matrix(d["J_regressor"])
    p = tmp_path / "basicModel_neutral_lbs_10_207_0_v1.0.0.pkl"
    p.write_bytes(pickle.dumps(d, protocol=2))
    body = load_body(p)
    np.testing.assert_allclose(body.J_regressor, synthetic_smpl["J_regressor"], atol=1e-7)
    np.testing.assert_allclose(body.shapedirs, synthetic_smpl["shapedirs"], atol=1e-7)


def test_truncated_pickle_is_input_error(tmp_path, synthetic_smpl):
    p = tmp_path / "trunc.pkl"
    p.write_bytes(pickle.dumps(synthetic_smpl)[:1000])
    with pytest.raises(InputError, match="trunc.pkl"):
        safe_load_pickle(p)


def test_npz_model_and_missing_keys(tmp_path, synthetic_smpl):
    p = tmp_path / "m.npz"
    np.savez(p, **synthetic_smpl)
    assert load_body(p).faces.shape[1] == 3
    d = dict(synthetic_smpl)
    del d["weights"]
    np.savez(tmp_path / "bad.npz", **d)
    with pytest.raises(InputError, match="missing SMPL keys"):
        load_body(tmp_path / "bad.npz")


def _random_poses(n, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(0, 0.4, (n, 72)).astype(np.float32), rng.normal(0, 1, 10).astype(np.float32), \
        rng.normal(0, 0.5, (n, 3)).astype(np.float32)


def test_numpy_torch_smplx_agree(tmp_path, synthetic_smpl):
    import torch
    import smplx

    p = tmp_path / "SMPL_NEUTRAL.pkl"
    p.write_bytes(pickle.dumps(synthetic_smpl, protocol=2))
    body = load_body(p)
    poses, betas, trans = _random_poses(8)
    out = body.forward(poses, betas, trans)
    tv, tj = body.to_torch()(torch.from_numpy(poses), torch.from_numpy(betas)[None], torch.from_numpy(trans))
    np.testing.assert_allclose(tv.numpy(), out.vertices, atol=1e-5)
    np.testing.assert_allclose(tj.numpy(), out.joints, atol=1e-5)
    model = smplx.SMPL(model_path=str(p), batch_size=8)
    so = model(global_orient=torch.from_numpy(poses[:, :3]), body_pose=torch.from_numpy(poses[:, 3:]),
               betas=torch.from_numpy(betas)[None].expand(8, -1), transl=torch.from_numpy(trans))
    np.testing.assert_allclose(so.vertices.detach().numpy(), out.vertices, atol=1e-4)
    np.testing.assert_allclose(so.joints.detach().numpy()[:, :24], out.joints, atol=1e-4)


def test_protocol2_pickle_with_empty_array_loads(tmp_path, synthetic_smpl):
    d = dict(synthetic_smpl, empty=np.zeros((0, 3)))
    p = tmp_path / "m.pkl"
    p.write_bytes(pickle.dumps(d, protocol=2))
    assert safe_load_pickle(p)["empty"].shape == (0, 3)
