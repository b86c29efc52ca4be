"""Both renderers against independent geometry: analytic sphere/plane normals and depths, and
ray-cast part labels on the default body."""

import numpy as np
import pytest

from neural_render.camera import Camera
from neural_render.passes.scene import BodyInstance
from test_passes_support import need_raster, raycast, uv_sphere

RENDERERS = ["raster", "blender"]


def _renderer(name, W, H):
    if name == "raster":
        need_raster()
    else:
        pytest.importorskip("bpy")
    from neural_render.renderers import make_renderer

    return make_renderer(name, W, H)


@pytest.fixture(scope="module", params=RENDERERS)
def renderer_128(request):
    r = _renderer(request.param, 160, 128)
    yield request.param, r
    r.close()


def test_sphere_normals_and_depth_are_analytic(renderer_128):
    name, r = renderer_128
    V, F, parts = uv_sphere(0.5, 64, 128)
    centre = np.array([0.2, 0.1, 1.1])
    inst = BodyInstance.from_vertices(V + centre, F, parts)
    cam = Camera.look_at([0.4, -3.5, 1.6], [0, 0, 1], 160, 128)
    cam.K[0, 2] += 9.5  # an off-centre principal point must be honoured too
    buf = r.render([inst], [V + centre], cam)
    m = buf["mask"]
    ys, xs = np.nonzero(m)
    # exact ray/sphere intersection through every foreground pixel centre
    d = np.stack([xs, ys, np.ones_like(xs)], 1).astype(float) @ np.linalg.inv(cam.K).T
    c = cam.to_camera(centre)
    a, b, cc = (d * d).sum(1), -2 * d @ c, c @ c - 0.25
    disc = b * b - 4 * a * cc
    assert np.all(disc > -1e-3)  # every rendered pixel really looks at the sphere
    t = (-b - np.sqrt(np.maximum(disc, 0))) / (2 * a)
    depth_err = np.abs(t - buf["depth"][ys, xs])
    assert np.median(depth_err) < 1e-3 and np.percentile(depth_err, 99) < 5e-3  # faceting at grazing angles
    p = t[:, None] * d - c
    n_exp = (p / np.linalg.norm(p, axis=1, keepdims=True)) * [1, -1, -1]  # OpenCV -> x right, y up, z to camera
    ang = np.degrees(np.arccos(np.clip((n_exp * buf["normal"][ys, xs]).sum(1), -1, 1)))
    assert ang.mean() < 0.5 and np.percentile(ang, 99) < 2.0
    # normals face the camera: z > 0 almost everywhere on a sphere seen from outside
    assert (buf["normal"][ys, xs, 2] > 0).mean() > 0.99
    # silhouette area matches the analytic disc (projected sphere) within 2 %
    dist = np.linalg.norm(c)
    r_px = cam.K[0, 0] * 0.5 / np.sqrt(dist ** 2 - 0.25)
    assert abs(m.sum() / (np.pi * r_px ** 2) - 1) < 0.03
    assert not buf["mask"][0].any() and buf["depth"][~m].max() == 0 and np.abs(buf["normal"][~m]).max() == 0


def test_plane_depth_known_distances(renderer_128):
    name, r = renderer_128
    # a big quad in the plane y = 2, facing the camera at the origin that looks along +y
    V = np.array([[-5, 2, -5], [5, 2, -5], [5, 2, 5], [-5, 2, 5]], float)
    F = np.array([[0, 1, 2], [0, 2, 3]])
    cam = Camera.look_at([0, 0, 0], [0, 1, 0], 160, 128)
    buf = r.render([BodyInstance.from_vertices(V, F)], [V], cam)
    assert buf["mask"].all()
    np.testing.assert_allclose(buf["depth"], 2.0, atol=2e-4)
    # a plane tilted 30 degrees about z: planar depth grows linearly across the image
    ang = np.radians(30)
    Rz = np.array([[np.cos(ang), -np.sin(ang), 0], [np.sin(ang), np.cos(ang), 0], [0, 0, 1]])
    V2 = (V - [0, 2, 0]) @ Rz.T + [0, 2, 0]
    buf2 = r.render([BodyInstance.from_vertices(V2, F)], [V2], cam)
    ys, xs = np.nonzero(buf2["mask"])
    exp, hit = raycast(cam, V2, F, np.stack([xs, ys], 1)[::37])
    assert np.all(hit >= 0)
    np.testing.assert_allclose(buf2["depth"][ys, xs][::37], exp, atol=5e-4)
    n = buf2["normal"][ys, xs]
    n_exp = cam.normals_to_camera(Rz @ [0, -1.0, 0])
    assert np.degrees(np.arccos(np.clip(n @ n_exp, -1, 1))).max() < 0.1


@pytest.fixture(scope="module")
def posed_body():
    from neural_render.body import load_body

    body = load_body()
    rng = np.random.default_rng(3)
    poses = np.zeros((1, 72), np.float32)
    poses[0, :3] = [np.pi / 2, 0, 0]  # Y-up model -> Z-up world, as a canonical motion
    poses[0, 3:] = rng.normal(0, 0.25, 69)
    inst = BodyInstance.from_motion(body, poses, np.array([[0, 0, 1.0]]))
    return body, inst


@pytest.mark.parametrize("name", RENDERERS)
def test_part_labels_match_raycast_vertex_labels(name, posed_body):
    body, inst = posed_body
    W = H = 160
    r = _renderer(name, W, H)
    try:
        verts = inst.posed([0]).vertices[0]
        cam = Camera.look_at([0.8, -3.0, 1.3], verts.mean(0), W, W)
        buf = r.render([inst], [verts], cam)
    finally:
        r.close()
    rng = np.random.default_rng(0)
    ys, xs = np.nonzero(buf["mask"])
    pick = rng.choice(len(xs), 300, replace=False)
    bg_y, bg_x = np.nonzero(~buf["mask"])
    bg = rng.choice(len(bg_x), 100, replace=False)
    px = np.concatenate([np.stack([xs[pick], ys[pick]], 1), np.stack([bg_x[bg], bg_y[bg]], 1)])
    depth, face = raycast(cam, verts, body.faces, px)
    fg = face >= 0
    # mask: the reference ray hits exactly the pixels the renderer marks (bar edge-grazing rays)
    assert (fg == buf["mask"][px[:, 1], px[:, 0]]).mean() >= 0.99
    ok = fg[:300]
    lab = buf["parts"][px[:300, 1], px[:300, 0]][ok]
    exp = inst.face_parts[face[:300][ok]]
    assert (lab == exp).mean() >= 0.99
    corners = body.parts[body.faces[face[:300][ok]]]
    assert np.mean([l in c for l, c in zip(lab, corners)]) == 1.0  # a visible pixel's part is one of its face's vertex labels
    assert np.all((lab >= 1) & (lab <= 24))
    dz = np.abs(buf["depth"][px[:300, 1], px[:300, 0]][ok] - depth[:300][ok])
    assert np.median(dz) < 1e-4 and np.mean(dz < 2e-3) > 0.98


def test_up_y_motion_is_turned_to_z_up(posed_body):
    from neural_render.body.axes import to_z_up

    body, _ = posed_body
    rng = np.random.default_rng(5)
    poses = rng.normal(0, 0.2, (2, 72)).astype(np.float32)
    trans = rng.normal(0, 0.3, (2, 3)).astype(np.float32)
    inst = BodyInstance.from_motion(body, poses, trans, up="y")
    got = inst.posed([0, 1])
    ref = body.forward(poses, None, trans)
    np.testing.assert_allclose(got.vertices, to_z_up(ref.vertices), atol=1e-5)
    np.testing.assert_allclose(got.keypoints, to_z_up(ref.body25), atol=1e-5)
    np.testing.assert_allclose(inst.all_joints(), to_z_up(ref.joints), atol=1e-5)
