"""Proportion shape components of the default body and retargeting with the source's shape
(`retarget(..., shape="source")`): geometry facts of the components, the asset's first 10
components unchanged, exact recovery of a known shape from a disguised skeleton, the shared CMU
clips, Motion round trips with more than 10 betas, and the CLI."""

import hashlib
import json

import numpy as np
import pytest

from neural_render.body import load_body
from neural_render.body.axes import Y_UP_TO_Z_UP
from neural_render.body.proportions import (PROPORTION_COMPONENTS, PROPORTION_NAMES, PROPORTION_UNIT_M,
                                            proportion_shapedirs, segment_direction)
from neural_render.body.skeletons import SMPL_JOINT_NAMES, SMPL_PARENTS
from neural_render.motion import Motion
from neural_render.motion.bone_maps import auto_map
from neural_render.motion.bvh import read_bvh
from neural_render.motion.retarget import evaluate, retarget
from neural_render.motion.source_skeleton import clip_from_bvh
from cli_run import run_cli

J = {n: i for i, n in enumerate(SMPL_JOINT_NAMES)}
# sha256 (first 16 hex) of the default body's arrays before the proportion components were
# appended (commit df8263b): the phenotype components and everything else stay byte-identical.
BEFORE = {"shapedirs[:10]": "40c53936a8561a02", "v_template": "f9bcb6192425d600",
          "J_regressor": "52b9c5ef1bbd9526", "weights": "a1ad4611cc2c36d6"}


@pytest.fixture(scope="module")
def body():
    return load_body()


def _sha(a) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()[:16]


def test_first_10_components_and_mesh_unchanged(body):
    got = {"shapedirs[:10]": _sha(body.shapedirs[..., :10]), "v_template": _sha(body.v_template),
           "J_regressor": _sha(body.J_regressor), "weights": _sha(body.weights)}
    assert got == BEFORE
    assert body.num_betas == 10 + len(PROPORTION_COMPONENTS)
    assert body.shape_names[0] == "height" and body.shape_names[10:] == [f"proportion_{n}" for n in PROPORTION_NAMES]
    # A 10-beta body (every existing motion) is the same with or without trailing zeros.
    b = np.random.default_rng(0).normal(0, 1, 10).astype(np.float32)
    v10 = body.forward(np.zeros(72), b, keypoints=False).vertices
    v26 = body.forward(np.zeros(72), np.concatenate([b, np.zeros(16, np.float32)]), keypoints=False).vertices
    np.testing.assert_allclose(v10, v26, atol=1e-6)   # float sums in another order


def test_build_step_reproduces_the_asset(body):
    """smpl_assets/build_default_body.py appends exactly proportion_shapedirs(...) of its arrays."""
    from neural_render.paths import asset

    with np.load(asset("default_body.npz")) as z:
        again = proportion_shapedirs(z["v_template"], z["f"], z["weights"], z["J_regressor"])
        # Bit-identical on the machine that built it; another BLAS may round differently.
        np.testing.assert_allclose(again, z["shapedirs"][..., 10:], atol=1e-6)
        meta = json.loads(str(z["metadata"]))
    assert meta["shape_components"]["proportions"]["unit_m"] == PROPORTION_UNIT_M


@pytest.mark.parametrize("k", range(len(PROPORTION_COMPONENTS)), ids=list(PROPORTION_NAMES))
def test_proportion_component_moves_exactly_its_segment(body, k):
    """beta = 1 moves the segment's child side by the documented unit along the segment; every
    other bone (parent -> child offset) stays within 1 mm; the mesh moves with it, bounded."""
    name, segments, kind, _ = PROPORTION_COMPONENTS[k]
    betas = np.zeros(body.num_betas, np.float32)
    J0 = body.rest_joints(betas).astype(np.float64)
    betas[10 + k] = 1.0
    J1 = body.rest_joints(betas).astype(np.float64)
    seg = {(J[a], J[c]) for a, c in segments}
    for j in range(1, 24):
        p = int(SMPL_PARENTS[j])
        change = (J1[j] - J1[p]) - (J0[j] - J0[p])
        if (p, j) in seg:
            d = segment_direction(J0, p, j, kind)
            np.testing.assert_allclose(change, PROPORTION_UNIT_M * d, atol=1e-4)
            if kind == "bone":
                assert np.linalg.norm(J1[j] - J1[p]) - np.linalg.norm(J0[j] - J0[p]) == \
                    pytest.approx(PROPORTION_UNIT_M, abs=1e-4)
        else:
            assert np.linalg.norm(change) < 1e-3, (name, SMPL_JOINT_NAMES[p], SMPL_JOINT_NAMES[j])
    disp = np.linalg.norm(body.shapedirs[..., 10 + k], axis=1)
    assert disp.max() < 2.5 * PROPORTION_UNIT_M            # bounded: no vertex flies off
    assert np.percentile(disp, 99) < 1.5 * PROPORTION_UNIT_M    # measured <= 1.35


def _known_shape_motion(body, T=10, seed=4):
    rng = np.random.default_rng(seed)
    betas = np.zeros(body.num_betas, np.float32)
    betas[0] = 0.8
    betas[10:] = rng.uniform(-1.5, 1.5, body.num_betas - 10)
    poses = rng.normal(0, 0.3, (T, 72))
    poses[:, :3] = rng.normal(0, 0.4, (T, 3))
    return Motion(poses, rng.normal(0, 0.3, (T, 3)), betas, 30.0, up="y")


@pytest.mark.parametrize("case", ["tpose_m", "zup_cm_apose", "arms_down"])
def test_recovers_known_shape_from_disguised_skeleton(body, case):
    """A skeleton made from the default body with known height + proportion betas, disguised (A-pose
    or arms-down rest, Z-up, cm, other names, an extra spine joint): shape="source" rebuilds its
    rest skeleton, and the retargeted body's own joints follow the source's."""
    from test_motion_retarget import _disguised_bvh

    m = _known_shape_motion(body)
    kw = {"tpose_m": dict(apose=False, world=np.eye(3), unit=1.0),
          "zup_cm_apose": dict(apose=True, world=Y_UP_TO_Z_UP, unit=100.0),
          "arms_down": dict(apose=np.pi / 2, world=np.eye(3), unit=1.0)}[case]
    clip = clip_from_bvh(_disguised_bvh(m, body, **kw))
    mapping, _, _ = auto_map(clip.skeleton)
    res = retarget(clip, body, mapping, up="y", shape="source")
    fitted = res.motion.betas
    assert fitted.shape == (body.num_betas,)
    np.testing.assert_allclose(body.rest_joints(fitted), body.rest_joints(m.betas), atol=2e-3)
    assert res.shape["max_residual_cm"] < 0.2 and res.scale == pytest.approx(1.0, abs=2e-3)
    ev = evaluate(clip, res, body)
    assert ev["mpjpe_body_m"] < 0.003 and ev["bone_dir_median_deg"] < 0.5
    # shape="body" keeps the body's own proportions: the body's joints are then off.
    res_b = retarget(clip, body, mapping, up="y", shape="body")
    assert not np.any(res_b.motion.betas)
    assert evaluate(clip, res_b, body)["mpjpe_body_m"] > 0.02


def test_cmu_clips_body_joints_follow_the_source(body, shared_data):
    for clip_name in ("cmu_131_01_walk.bvh", "cmu_131_03_hop.bvh"):
        clip = clip_from_bvh(read_bvh(shared_data / "mocap" / clip_name))
        mapping, _, _ = auto_map(clip.skeleton)
        res = retarget(clip, body, mapping, shape="source")
        ev = evaluate(clip, res, body)
        # Measured 0.60 / 0.61 cm (13.4 cm with the body's own shape); issue 3's target is 3 cm.
        assert ev["mpjpe_body_m"] < 0.015, ev["per_joint_body_m"]
        assert max(ev["per_joint_body_m"].values()) < 0.03
        assert ev["bone_dir_median_deg"] <= 5.0 and ev["mpjpe_m"] <= 0.03
        # CMU's torso is shorter and its collars sit at the spine top: the fit says so.
        b = res.shape["betas"]
        assert b["proportion_torso_lower"] < -1.5 and b["proportion_collar"] < -2.0
        assert res.shape["residual_cm"] < 1.0
        assert res.motion.metadata["retarget"]["shape"] == "source"


def test_motion_with_more_than_10_betas_round_trips(body, tmp_path):
    m = _known_shape_motion(body)
    m.save(tmp_path / "m.npz")
    back = Motion.load(tmp_path / "m.npz")
    np.testing.assert_array_equal(back.betas, m.betas)
    np.testing.assert_allclose(back.joints(body), m.joints(body), atol=1e-6)
    # Up-axis turns keep the body (the rest pelvis depends on all betas).
    z = m.with_up("z", body=body)
    np.testing.assert_allclose(z.joints(body), m.joints(body) @ Y_UP_TO_Z_UP.T, atol=1e-5)
    # .smpl keeps every beta (smplcodec takes 10-300), BVH export uses the shaped skeleton.
    from neural_render.motion.export import save_bvh
    from neural_render.motion.smpl_params import load_smpl_file, save_smpl_file

    save_smpl_file(m, tmp_path / "m.smpl", body)
    np.testing.assert_allclose(load_smpl_file(tmp_path / "m.smpl").betas, m.betas, atol=1e-6)
    save_bvh(m, tmp_path / "m.bvh", body)
    bvh = read_bvh(tmp_path / "m.bvh")
    rest = bvh.rest_positions()
    names = list(bvh.names)
    Jr = body.rest_joints(m.betas)
    got = np.linalg.norm(rest[names.index(SMPL_JOINT_NAMES[18])] - rest[names.index(SMPL_JOINT_NAMES[16])])
    assert got == pytest.approx(np.linalg.norm(Jr[18] - Jr[16]), abs=1e-4)


def test_cli_import_shape_source_and_body(shared_data, tmp_path):
    src = str(shared_data / "mocap" / "cmu_131_03_hop.bvh")
    outs = {}
    for shape in ("source", "body"):
        out = tmp_path / f"{shape}.npz"
        args = ["motion", "import", src, "--out", str(out), "--fps", "30",
                "--no-preview", "--frames", "0:240"] + ([] if shape == "source" else ["--shape", "body"])
        r = run_cli(args)
        assert r.returncode == 0, r.stderr
        assert ("shape fitted to the source skeleton" in r.stdout) == (shape == "source"), r.stdout
        outs[shape] = Motion.load(out)
    assert outs["source"].betas.shape == (26,) and np.any(outs["source"].betas[10:])
    assert not np.any(outs["body"].betas)
    # The pose is the same (bones point the same way); only the shape and the root path's scale differ.
    body = load_body()
    dirs = {}
    for k, m in outs.items():
        j = m.joints(body)
        d = j[:, 1:] - j[:, SMPL_PARENTS[1:]]
        dirs[k] = d / np.linalg.norm(d, axis=-1, keepdims=True)
    ang = np.degrees(np.arccos(np.clip(np.sum(dirs["source"] * dirs["body"], -1), -1, 1)))
    assert np.median(ang) < 1.0
    r = run_cli(["motion", "evaluate", src, "--json"])
    assert r.returncode == 0, r.stderr
    ev = json.loads(r.stdout)
    assert ev["mpjpe_body_m"] < 0.015 and ev["shape"]["mode"] == "source"


def test_motion_on_another_shape_matches_importing_with_that_shape(body, shared_data):
    """An actor with its own betas driven by a source-shaped motion (`motion_on_shape`, used by
    the reference actor) moves like the clip imported with the actor's shape directly."""
    from neural_render.motion.importers import import_motion
    from neural_render.motion.retarget import motion_on_shape

    src = shared_data / "mocap" / "cmu_131_01_walk.bvh"
    ms, _ = import_motion(src, fps=30, shape="source", frames=(0, 400))
    mb, _ = import_motion(src, fps=30, shape="body", frames=(0, 400))
    mo = motion_on_shape(ms, body, None)
    assert not np.any(mo.betas) and mo.up == ms.up == "z"
    err = np.linalg.norm(mo.joints(body) - mb.joints(body), axis=-1)
    assert err[:, 0].max() < 1e-4        # the root path: leg-ratio scaling commutes
    assert err.mean() < 0.005            # measured 0.19 cm (rest alignment of the other shape)
    same = motion_on_shape(mb, body, np.zeros(10))
    np.testing.assert_array_equal(same.trans, mb.trans)


def test_dataset_proportions_std(tmp_path):
    """bodies.proportions_std draws the default body's proportion components from their own
    stream (nothing else in the scene changes); off by default; the posed default body uses them."""
    from test_dataset_helpers import small_config, write_test_assets

    from neural_render.dataset.config import validate
    from neural_render.dataset.sampling import pose_scene, sample_scene
    from neural_render.errors import InputError

    _, motion = write_test_assets(tmp_path)
    base = small_config("default", motion)
    base["bodies"] = {"models": ["default"]}
    off = validate(base)
    on = validate({**base, "bodies": {"models": ["default"], "proportions_std": 1.0}})
    for i in range(3):
        a, b = sample_scene(off, i), sample_scene(on, i)
        assert [len(p.betas) for p in a.people] == [10] * len(a.people)
        assert [len(p.betas) for p in b.people] == [26] * len(b.people)
        for pa, pb in zip(a.people, b.people):
            assert pb.betas[:10] == pa.betas and pb.motion == pa.motion and pb.clothing == pa.clothing
            assert np.std(pb.betas[10:]) > 0.2
    posed = pose_scene(sample_scene(on, 0), on)
    np.testing.assert_allclose(posed.people[0].betas, sample_scene(on, 0).people[0].betas, atol=1e-6)
    with pytest.raises(InputError, match="proportions_std"):
        validate({**base, "bodies": {"models": ["default"], "proportions_std": 1.0, "num_betas": 20}})
