"""Optional cloth simulation of loose garments (Blender's cloth, headless): pins, lead-in, the skirt."""

import numpy as np
import pytest

from neural_render.body import garments as G

SKIRT_OUTFIT = {"upper": {"kind": "tshirt", "sleeve": 0.35, "hem": 0.1, "looseness": 0.02, "thickness": 0.004},
                "lower": {"kind": "skirt", "length": 0.55, "looseness": 0.015, "thickness": 0.004, "flare": 0.1},
                "shoes": {"kind": "shoes", "thickness": 0.008}}


@pytest.fixture(scope="module")
def body():
    from neural_render.body import load_body

    return load_body()


def test_pins_mark_loose_garments_only(body):
    gs = {g.name: g for g in G.build_outfit(body, np.zeros(10), SKIRT_OUTFIT)}
    skirt = gs["skirt"]
    assert gs["tshirt"].pin is None and gs["shoes"].pin is None  # tucked into the skirt / shoes: skinned
    assert skirt.pin.shape == (skirt.num_vertices,) and 0 <= skirt.pin.min() and skirt.pin.max() <= 1
    top = skirt.rest[:, 1] > skirt.rest[:, 1].max() - 0.01
    hem = skirt.rest[:, 1] < skirt.rest[:, 1].min() + 0.01
    assert np.all(skirt.pin[top] == 1.0) and np.all(skirt.pin[hem] == 0.0)
    loose_top = dict(SKIRT_OUTFIT, lower={"kind": "trousers", "length": 0.95, "looseness": 0.01, "thickness": 0.004})
    tshirt = next(g for g in G.build_outfit(body, np.zeros(10), loose_top) if g.name == "tshirt")
    # Over trousers a loose top hangs free below the chest; its shoulders and sleeves stay pinned.
    y = tshirt.rest[:, 1]
    assert tshirt.pin[y > np.quantile(y, 0.9)].min() == 1.0 and tshirt.pin[y < np.quantile(y, 0.05)].max() == 0.0


def test_lead_in_turns_every_joint_from_rest_but_keeps_the_root():
    pose = np.random.default_rng(0).normal(0, 0.4, 72)
    lead = G.lead_in_poses(pose, 10)
    assert lead.shape == (10, 72)
    np.testing.assert_allclose(lead[:, :3], np.broadcast_to(pose[:3], (10, 3)))
    assert np.all(lead[0, 3:] == 0)  # the rest pose the garments were made around
    frac = lead[:, 3:] / pose[3:]
    assert np.all(np.diff(frac[:, 0]) > 0) and frac[-1, 0] < 1  # monotone, the clip's frame comes next
    np.testing.assert_allclose(frac, frac[:, :1].repeat(69, 1))  # one geodesic for all joints


def test_simulated_skirt_moves_differently_and_stays_outside_the_body(body):
    """A short stride of the shipped walk: the simulated skirt differs from the skinned one where it
    hangs free (the hem), follows it where pinned (the waistband), and stays outside the body."""
    pytest.importorskip("bpy")
    from mathutils import Vector
    from mathutils.bvhtree import BVHTree

    from neural_render.blender.cloth import simulate_garments
    from neural_render.motion import Motion
    from neural_render.paths import asset

    m = Motion.load(asset("motions/cmu_131_01_walk.npz"))
    assert m.up == "z"
    gs = [g for g in G.build_outfit(body, np.zeros(10), SKIRT_OUTFIT) if g.name in ("skirt", "shoes")]
    clip = np.arange(150, 162)  # walking
    n_lead = 8
    poses = np.concatenate([G.lead_in_poses(m.poses[clip[0]], n_lead), m.poses[clip]])
    trans = np.concatenate([np.repeat(m.trans[clip[:1]], n_lead, 0), m.trans[clip]])
    verts = body.forward(poses, None, trans, keypoints=False).vertices
    skinned = G.pose_garments(body, gs, poses, None, trans)
    sim = simulate_garments(body.faces, gs, verts, skinned, m.fps, floor_from=n_lead)
    skirt, shoes = gs
    assert np.array_equal(sim[1], skinned[1])  # shoes are not simulated
    s, k = sim[0], skinned[0]
    assert s.shape == k.shape and np.isfinite(s).all()
    np.testing.assert_allclose(s[0], k[0], atol=1e-5)  # the cloth starts from the skinned rest-pose skirt
    move = np.linalg.norm(s - k, axis=-1)[n_lead:]  # (frames, G)
    pinned = skirt.pin == 1.0
    free = skirt.pin == 0.0
    assert move[:, pinned].max() < 0.002  # waistband: exactly where skinning puts it
    assert np.median(move[:, free].max(0)) > 0.02  # the free cloth moves by centimetres on its own
    # No vertex below the floor (lowest foot / shoe point of the clip), and hardly any inside the body.
    floor = min(verts[n_lead:, :, 2].min(), skinned[1][n_lead:, :, 2].min())
    assert s[n_lead:, :, 2].min() > floor - 0.002
    inside = total = 0
    for f in range(n_lead, len(poses), 3):
        tree = BVHTree.FromPolygons(verts[f].astype(np.float64).tolist(), body.faces.tolist())
        for p in s[f]:
            loc, normal, _i, _d = tree.find_nearest(Vector(p))
            inside += int((Vector(p) - loc).dot(normal) < -1e-3)
            total += 1
    assert inside / total < 0.01, inside / total


def test_cloth_config_switch_is_off_by_default_and_validated():
    from neural_render.dataset.config import validate
    from neural_render.errors import InputError

    assert validate({"samples": 1})["garments"]["cloth"] == {"enabled": False, "lead_in_s": 0.5}
    assert validate({"samples": 1, "garments": {"cloth": {"enabled": True}}})["garments"]["cloth"]["enabled"] is True
    with pytest.raises(InputError, match="garments.cloth.enabled"):
        validate({"samples": 1, "garments": {"cloth": {"enabled": "yes"}}})
    with pytest.raises(InputError, match="garments.cloth.lead_in_s"):
        validate({"samples": 1, "garments": {"cloth": {"lead_in_s": -1}}})
