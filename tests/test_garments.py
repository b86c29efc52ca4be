"""Procedural garments and hair: geometry from the body surface, skinning, outfits from the config."""

import numpy as np
import pytest

from neural_render.body import garments as G

OUTFITS = {
    "tshirt_trousers": {"upper": {"kind": "tshirt", "sleeve": 0.35, "hem": 0.1, "looseness": 0.01, "thickness": 0.004},
                        "lower": {"kind": "trousers", "length": 0.95, "looseness": 0.008, "thickness": 0.004},
                        "shoes": {"kind": "shoes", "thickness": 0.008}, "hair": {"kind": "short", "volume": 0.015}},
    "shirt_skirt_long_hair": {"upper": {"kind": "shirt", "sleeve": 0.95, "hem": 0.05, "looseness": 0.015, "thickness": 0.004},
                              "lower": {"kind": "skirt", "length": 0.55, "looseness": 0.01, "thickness": 0.004, "flare": 0.08},
                              "shoes": {"kind": "boots", "thickness": 0.008}, "hair": {"kind": "long", "length": 0.3, "volume": 0.015}},
    "dress_ponytail": {"dress": {"sleeve": 0.0, "length": 0.45, "looseness": 0.01, "thickness": 0.004, "flare": 0.1},
                       "hair": {"kind": "ponytail", "length": 0.25}},
}


@pytest.fixture(scope="module")
def body():
    from neural_render.body import load_body

    return load_body()


def test_skinning_matches_the_body_forward_pass(body):
    """A zero-offset layer over every body vertex poses exactly like the body (same LBS)."""
    rng = np.random.default_rng(0)
    betas = rng.normal(0, 1, 10)
    poses = rng.normal(0, 0.3, (3, 72))
    trans = rng.normal(0, 1, (3, 3))
    rest, _ = G.shaped_rest(body, betas)
    g = G.Garment("all", "upper", rest, body.faces, body.weights, np.arange(len(rest)))
    posed = G.pose_garments(body, [g], poses, betas, trans)[0]
    ref = body.forward(poses, betas, trans, keypoints=False).vertices
    assert np.abs(posed - ref).max() < 1e-5


@pytest.mark.parametrize("name", list(OUTFITS))
def test_outfit_meshes_are_valid_and_outside_the_rest_body(body, name):
    gs = G.build_outfit(body, np.zeros(10), OUTFITS[name])
    labels = {g.label for g in gs}
    assert labels <= set(G.SEGMENTATION_CLASSES[2:])
    rest, _ = G.shaped_rest(body, np.zeros(10))
    from scipy.spatial import cKDTree

    normals = G.vertex_normals(rest, body.faces)
    tree = cKDTree(rest)
    for g in gs:
        assert g.faces.min() >= 0 and g.faces.max() < g.num_vertices and len(g.faces) > 10
        np.testing.assert_allclose(g.weights.sum(1), 1.0, atol=1e-5)
        # Every vertex of the garment sits in front of the skin nearest to it (outside the body).
        _d, idx = tree.query(g.rest)
        signed = np.einsum("gc,gc->g", g.rest - rest[idx], normals[idx])
        assert (signed < -1e-3).mean() < 0.01, (g.name, float((signed < -1e-3).mean()))


def test_skirt_hangs_between_the_legs_with_weights_shared_by_both(body):
    gs = G.build_outfit(body, np.zeros(10), OUTFITS["shirt_skirt_long_hair"])
    skirt = next(g for g in gs if g.name == "skirt")
    fr = G._body_frame(body)
    hem_y = skirt.rest[:, 1].min()
    # Both legs' points at hem height lie inside the hem's ring (one tube, not two trouser legs).
    ring = skirt.rest[np.abs(skirt.rest[:, 1] - hem_y) < 1e-6]
    legs = fr.v_template[(np.abs(fr.v_template[:, 1] - hem_y) < 0.01)]
    assert np.abs(legs[:, 0]).max() > 0.1  # two legs, apart
    angles = np.arctan2(ring[:, 0], ring[:, 2] - fr.J[G.PELVIS, 2])
    order = np.argsort(angles)
    r_ring = np.hypot(ring[order, 0], ring[order, 2] - fr.J[G.PELVIS, 2])
    a_leg = np.arctan2(legs[:, 0], legs[:, 2] - fr.J[G.PELVIS, 2])
    r_leg = np.hypot(legs[:, 0], legs[:, 2] - fr.J[G.PELVIS, 2])
    assert np.all(r_leg < np.interp(a_leg, angles[order], r_ring, period=2 * np.pi))
    # Between the legs (front and back middle) the hem follows both hips equally.
    mid = ring[np.abs(ring[:, 0]) < 1e-6]
    w = skirt.weights[np.flatnonzero(np.abs(skirt.rest[:, 1] - hem_y) < 1e-6)][np.abs(ring[:, 0]) < 1e-6]
    assert len(mid) >= 1 and np.allclose(w[:, G.L_HIP], w[:, G.R_HIP]) and w[:, G.L_HIP].min() > 0.3


def test_push_out_moves_sunk_vertices_outside(body):
    rest, _ = G.shaped_rest(body, np.zeros(10))
    normals = G.vertex_normals(rest, body.faces)
    torso = np.flatnonzero(np.isin(body.parts, [1, 4, 7, 10]))[::10]  # pelvis and spine: no fingers or toes
    inside = rest[torso] - 0.01 * normals[torso]  # 1 cm under the skin
    out = G.push_out(rest[None].astype(np.float32), body.faces, [inside[None]], margin=0.002)[0][0]
    from scipy.spatial import cKDTree

    _d, idx = cKDTree(rest).query(out)
    signed = np.einsum("gc,gc->g", out - rest[idx], normals[idx])
    assert signed.min() > 0.0015


def test_outfits_are_seeded_and_follow_the_config():
    from neural_render.dataset.config import validate
    from neural_render.dataset.outfits import sample_outfit, skin_albedo

    cfg = validate({"samples": 1, "garments": {"upper": {"jacket": 1}, "lower": {"skirt": 1}, "dress_probability": 0.0,
                                               "hair": {"ponytail": 1}}})
    a = [sample_outfit(np.random.default_rng([1, k]), cfg["garments"]) for k in range(20)]
    b = [sample_outfit(np.random.default_rng([1, k]), cfg["garments"]) for k in range(20)]
    assert a == b
    assert {o["upper"]["kind"] for o in a} == {"jacket"} and {o["lower"]["kind"] for o in a} == {"skirt"}
    assert {o["hair"]["kind"] for o in a} == {"ponytail"}
    # Skin tones span light to dark.
    assert skin_albedo(0)[0] > 0.6 and skin_albedo(1)[0] < 0.1


def test_bad_garment_config_names_the_key():
    from neural_render.dataset.config import validate
    from neural_render.errors import InputError

    with pytest.raises(InputError, match="garments.upper.toga"):
        validate({"samples": 1, "garments": {"upper": {"toga": 1}}})
    with pytest.raises(InputError, match="positive weight"):
        validate({"samples": 1, "garments": {"hair": {"short": 0}}})
    with pytest.raises(InputError, match="needs garments"):
        validate({"samples": 1, "garments": {"enabled": False}, "passes": ["segmentation"]})


def test_dataset_check_finds_broken_clothing_labels(tmp_path):
    import cv2

    from neural_render.dataset.check import _check_clothing_labels

    for d in ("segmentation", "person_mask", "mask"):
        (tmp_path / d).mkdir()
    inst = np.zeros((8, 8), np.uint8)
    inst[2:6, 2:6] = 1
    person = (inst > 0).astype(np.uint8) * 255
    seg = np.where(inst > 0, 3, 0).astype(np.uint8)
    body = np.zeros_like(person)
    body[3:5, 3:5] = 255

    def write(s, p, b):
        cv2.imwrite(str(tmp_path / "segmentation" / "000001.png"), s)
        cv2.imwrite(str(tmp_path / "person_mask" / "000001.png"), p)
        cv2.imwrite(str(tmp_path / "mask" / "000001.png"), b)
        return _check_clothing_labels(tmp_path, 1, inst)

    assert write(seg, person, body) == []
    bad = seg.copy()
    bad[0, 0] = 9
    assert any("class 9" in e for e in write(bad, person, body))
    bad = seg.copy()
    bad[2, 2] = 0
    assert any("background differs" in e for e in write(bad, person, body))
    stray = body.copy()
    stray[0:2, 0:8] = 255
    assert any("outside person_mask" in e for e in write(seg, person, stray))


def test_smplh_poses_pose_garments_by_their_body_joints(body):
    """A 156-value (SMPL-H) pose moves garments like the 72-value pose of the same 22 body joints."""
    rng = np.random.default_rng(3)
    p72 = rng.normal(0, 0.3, (2, 72))
    p72[:, 66:] = 0
    p156 = np.concatenate([p72[:, :66], rng.normal(0, 0.3, (2, 90))], 1)
    gs = G.build_outfit(body, np.zeros(10), OUTFITS["tshirt_trousers"])
    a = G.pose_garments(body, gs, p72, np.zeros(10), np.zeros((2, 3)))
    b = G.pose_garments(body, gs, p156, np.zeros(10), np.zeros((2, 3)))
    assert all(np.allclose(x, y) for x, y in zip(a, b))
