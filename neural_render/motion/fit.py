"""SMPL fitting to keypoints in torch: 2D (one or several calibrated views) or 3D, batched over frames.

The body is posed in a Z-up world directly: the root orientation contains the Y-up -> Z-up turn (the
Motion convention up="z"), so fitted parameters are a Motion as they stand.

Objective per clip (all frames optimized together, CPU or CUDA):
  data      confidence-weighted Geman-McClure on reprojection residuals (pixels scaled to a
            1000-px focal length) in every view, or on 3D distances (in 5 mm units); plus, when a
            detector gave metric 3D per view (MediaPipe world landmarks), a root-relative 3D term:
            the body's keypoints minus its hip centre, seen in that camera's axes, against the
            detector's (visibility-weighted, same robust loss) -- it pins the limbs' depth that 2D
            alone leaves ambiguous
  pose      Gaussian-mixture negative log-likelihood of the body pose (pose_prior.npz, fitted on
            free mocap) + squared hinge on per-joint limits
  shape     one betas vector for the clip, ||betas||^2
  smooth    squared acceleration of the keypoints and squared velocity of the pose parameters
Stages: (1) root orientation + translation from the torso keypoints, from several yaw hypotheses
(front/back ambiguity) keeping the best per frame; (2) everything. Keypoints come from the body's
BODY_25 regressor evaluated on the joints and the few vertices it uses (`KeypointBody`), which is
the full LBS restricted to those vertices (tested equal to `body.forward`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time
from dataclasses import dataclass, field

import numpy as np

from neural_render.body.axes import Y_UP_TO_Z_UP
from neural_render.camera import Camera, focal_intrinsics, fov_focal
from neural_render.motion import rotations
from neural_render.motion.keypoints import to_body25

# BODY_25 indices used in stage 1 (the torso: shoulders, hips, neck, mid-hip).
TORSO = (1, 2, 5, 8, 9, 12)
# Per-keypoint weights: OpenPose's hips sit higher and wider than SMPL's hip joints, so they count less.
BODY25_WEIGHTS = np.ones(25, np.float32)
BODY25_WEIGHTS[[8, 9, 12]] = 0.6
FEET = (11, 14, 19, 20, 21, 22, 23, 24)
FOOT_POINTS = ((19, 20, 21), (22, 23, 24))  # BODY_25 (big toe, small toe, heel) of the left, right foot


@dataclass
class FitOptions:
    device: str = "cpu"
    iters_global: int = 30        # L-BFGS iterations (Adam: use ~5x more)
    iters_pose: int = 300         # stage 2 with several views or 3D targets
    iters_pose_single: int | None = None  # stage 2 with one view; None = 2 x iters_pose (depth
                                          # ambiguity: slower to settle)
    lr: float = 0.03
    yaw_inits: int = 4            # front/back/side hypotheses for single-view stage 1
    robust_sigma: float = 100.0   # Geman-McClure scale, px at a 1000-px focal length (or 5 mm units in 3D)
    w_pose: float = 1.0
    w_limits: float = 3000.0
    w_shape: float = 100.0
    w_smooth: float = 1.0         # keypoint acceleration, per frame, cm^2 units
    w_pose_smooth: float = 5.0    # pose-parameter velocity, rad^2
    w_focal: float = 50.0         # log-focal prior when the focal length is refined
    w_rel3d: float = 0.1          # root-relative 3D term (detector world landmarks), per keypoint (on the
                                  # Pose2Sim clip 0.1 beat 0.5: MediaPipe's depth is a hint, not a measurement)
    pose_scale_single_rel3d: float = 4.0  # single view with world landmarks: the pose prior x this.
                                  # Their depth is a noisy hint (~5 cm): on the Pose2Sim clip x4 lowered
                                  # MPJPE / PA-MPJPE in every camera (mean 84.8 / 63.6 -> 80.9 / 60.4 mm);
                                  # without them it did not (2D alone: x1 stays, see BENCHMARKS.md)
    w_floor: float = 10.0         # keypoints below the floor plane (when one is given), cm^2
    w_contact: float = 5.0        # the lowest point of a contacting foot off the floor, cm^2
    w_slide: float = 5.0          # a contacting foot moving along the floor between frames, cm^2
    refine_focal: bool = False
    fit_shape: bool = True
    min_conf: float = 0.1
    min_keypoints: int = 6        # fewer confident keypoints in a frame -> flagged 'missing'
    high_error_px: float | None = None  # default: max(15 px, 2 % of the larger image side)
    temporal: bool = True         # frames are consecutive (smoothness terms on)
    num_betas: int = 10
    optimizer: str = "lbfgs"      # lbfgs | adam
    # The fit is many small tensor ops: on CPU, intra-op threads cost more than they give (measured
    # here: 30 frames 7 s with 1 thread, 45 s with 2 on a busy 2-core machine). None = torch's setting.
    cpu_threads: int | None = 1
    anneal: tuple = (5.0, 1.0)    # pose-prior weight multipliers of the stage-2 sub-stages
    flip_search: bool = True      # single view: try limbs mirrored in depth between sub-stages
    pose_inits: int = 13          # single view: starting poses tried per frame (prior mean + modes)
    iters_pose_init: int = 120

    def single_view_iters(self) -> int:
        return self.iters_pose_single or 2 * self.iters_pose

    @classmethod
    def fast(cls, **kw) -> "FitOptions":
        """Single view about 4x faster, less accurate (PA-MPJPE ~60 instead of ~48 mm in the benchmark)."""
        return cls(**{"pose_inits": 6, "iters_pose_init": 40, "iters_pose_single": 300, **kw})


@dataclass
class FitResult:
    """A fit: the motion (Z-up world), the cameras (OpenCV), errors and flags per frame."""

    motion: object                      # neural_render.motion.Motion
    cameras: list[Camera]
    reprojection_px: np.ndarray         # (T, C) mean reprojection error per frame per camera (NaN: no keypoints)
    keypoints3d: np.ndarray             # (T, 25, 3) fitted BODY_25 keypoints, world metres
    joints: np.ndarray                  # (T, 24, 3) fitted SMPL joints, world metres
    flags: dict[str, np.ndarray]        # 'missing', 'high_error' (T,) bool
    world: str = ""                     # how the world frame was defined
    stats: dict = field(default_factory=dict)
    error3d_m: np.ndarray | None = None  # (T,) mean distance to 3D targets (3D fits)
    implausible: dict[str, np.ndarray] = field(default_factory=dict)  # (T,) bool per check (plausibility.py)

    @property
    def flagged(self) -> np.ndarray:
        return np.logical_or.reduce(list(self.flags.values()))

    def report(self) -> dict:
        """JSON-ready summary: per-camera medians, per-frame errors, flagged frames."""
        rep = self.reprojection_px
        out = {
            "frames": int(rep.shape[0]), "world": self.world,
            "cameras": [c.to_dict() for c in self.cameras],
            "median_reprojection_px": {c.name: _nanstat(np.nanmedian, rep[:, i]) for i, c in enumerate(self.cameras)},
            "mean_reprojection_px": {c.name: _nanstat(np.nanmean, rep[:, i]) for i, c in enumerate(self.cameras)},
            "per_frame_reprojection_px": [[None if not np.isfinite(v) else round(float(v), 2) for v in row] for row in rep],
            "flags": {k: np.flatnonzero(v).tolist() for k, v in self.flags.items()},
            "flagged_frames": np.flatnonzero(self.flagged).tolist(),
            "betas": np.asarray(self.motion.betas).round(4).tolist(),
            "stats": self.stats,
        }
        if self.error3d_m is not None:
            out["median_error3d_m"] = _nanstat(np.nanmedian, self.error3d_m)
        if self.implausible:
            out["implausible"] = {k: np.flatnonzero(v).tolist() for k, v in self.implausible.items()}
            out["implausible_frames"] = np.flatnonzero(np.logical_or.reduce(list(self.implausible.values()))).tolist()
        return out


def _nanstat(fn, a):
    a = np.asarray(a, np.float64)
    return None if not np.isfinite(a).any() else round(float(fn(a)), 3)


# ------------------------------------------------------------------------------------- the model

class KeypointBody:
    """Posed joints and regressed keypoints of a body, in torch, without skinning every vertex.

    forward(poses (N, 72), betas (1|N, B), trans (N, 3)) -> keypoints (N, K, 3), joints (N, 24, 3).
    """

    def __init__(self, body, kind: str = "body25", device="cpu", num_betas: int = 10):
        import torch

        from neural_render.body.lbs_torch import KinematicChain

        self.device = torch.device(device)
        t = lambda a: torch.as_tensor(np.asarray(a, np.float32), device=self.device)  # noqa: E731
        R = np.asarray(body.keypoint_regressors[kind], np.float32)
        V = body.num_vertices
        vids = np.flatnonzero(np.abs(R[:, :V]).sum(0) > 0)
        B = min(num_betas, body.num_betas)
        self.num_betas = B
        self.reg_v = t(R[:, vids])
        self.reg_j = t(R[:, V:])
        self.v_sub = t(body.v_template[vids])
        self.sd_sub = t(body.shapedirs[vids, :, :B])
        self.w_sub = t(body.weights[vids])
        self.pd_sub = None if body.posedirs is None else t(body.posedirs[vids]).reshape(len(vids) * 3, -1)
        # Without pose correctives, keypoints are linear in the joints' blended transforms, so the
        # regressor, skin weights and (shape-dependent) rest vertices fold into per-(keypoint, joint)
        # terms: kp_k = sum_j G_j M_kj + c_kj o_j. No per-vertex work per frame.
        Rv, Wv = R[:, vids].astype(np.float64), body.weights[vids].astype(np.float64)
        self.c_kj = t(Rv @ Wv)                                                           # (K, J)
        self.M0 = t(np.einsum("ks,sj,sc->kjc", Rv, Wv, body.v_template[vids]))           # (K, J, 3)
        self.MSD = t(np.einsum("ks,sj,scb->kjcb", Rv, Wv, body.shapedirs[vids, :, :B]))  # (K, J, 3, B)
        self.J_t = t(body.J_regressor @ body.v_template)
        self.J_sd = t(np.einsum("jv,vcb->jcb", body.J_regressor, body.shapedirs[..., :B]))
        self.parents = [int(p) for p in body.parents]
        self.parents_np = np.asarray(body.parents, np.int64)
        self.chain = KinematicChain(self.parents)
        self.pelvis_rest = body.rest_joints(np.zeros(B))[0]

    def rest_joints(self, betas):
        import torch

        return self.J_t + torch.einsum("jcb,nb->njc", self.J_sd, betas[:, :self.num_betas])

    def transforms(self, poses, betas):
        """Per-joint skinning transforms: (G_rot (N, J, 3, 3), G_pos (N, J, 3), offset (N, J, 3),
        local rotations (N, J, 3, 3)) so that a rest point x skinned to joint j goes to
        G_rot_j x + offset_j (before the translation)."""
        from neural_render.motion import rotations_torch

        N = poses.shape[0]
        J = len(self.parents)
        rest_j = self.rest_joints(betas).expand(N, -1, -1)
        rot = rotations_torch.rodrigues(poses.reshape(N, J, 3))                   # (N, J, 3, 3)
        G_rot, G_pos = self.chain(rot, rest_j)
        offset = G_pos - (G_rot * rest_j[:, :, None, :]).sum(-1)
        return G_rot, G_pos, offset, rot

    def forward(self, poses, betas, trans):
        import torch

        from neural_render.body.lbs_torch import pose_features

        N = poses.shape[0]
        J = len(self.parents)
        G_rot, G_pos, offset, rot = self.transforms(poses, betas)
        if self.pd_sub is None:
            M = self.M0 + torch.einsum("kjcb,nb->nkjc", self.MSD, betas[:, :self.num_betas])  # (1|N, K, J, 3)
            kp = torch.einsum("njab,nkjb->nka", G_rot, M.expand(N, -1, -1, -1)) \
                + torch.einsum("kj,nja->nka", self.c_kj, offset) + torch.einsum("kj,njc->nkc", self.reg_j, G_pos)
            return kp + trans[:, None], G_pos + trans[:, None]
        v = self.v_sub + torch.einsum("scb,nb->nsc", self.sd_sub, betas[:, :self.num_betas]).expand(N, -1, -1)
        if self.pd_sub is not None:
            v = v + (pose_features(rot) @ self.pd_sub.T).reshape(N, -1, 3)
        # Linear blend skinning of the selected vertices: blend the joints' affine transforms.
        A = torch.cat([G_rot.reshape(N, J, 9), offset], -1)            # (N, J, 12)
        Tv = torch.einsum("sj,njk->nsk", self.w_sub, A)
        verts = (Tv[..., :9].reshape(N, -1, 3, 3) * v[:, :, None, :]).sum(-1) + Tv[..., 9:]
        kp = torch.einsum("ks,nsc->nkc", self.reg_v, verts) + torch.einsum("kj,njc->nkc", self.reg_j, G_pos)
        return kp + trans[:, None], G_pos + trans[:, None]


# ------------------------------------------------------------------------------------- utilities

def kabsch(src: np.ndarray, dst: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Rotation R minimizing sum w |R (src - mean) - (dst - mean)|^2 (weighted means)."""
    w = w / max(w.sum(), 1e-9)
    ms, md = (w[:, None] * src).sum(0), (w[:, None] * dst).sum(0)
    H = ((src - ms) * w[:, None]).T @ (dst - md)
    U, _, Vt = np.linalg.svd(H)
    d = np.sign(np.linalg.det(Vt.T @ U.T))
    return Vt.T @ np.diag([1, 1, d]) @ U.T


def single_view_camera(width: int, height: int, focal: float | None = None, name: str = "camera") -> Camera:
    """The world of a single-view fit: camera at the origin looking along +y, image up = world +z."""
    w2c = np.eye(4)
    w2c[:3, :3] = [[1, 0, 0], [0, 0, -1], [0, 1, 0]]
    return Camera(focal_intrinsics(width, height, focal or fov_focal(width, height)), w2c, width, height, name=name)


# --------------------------------------------------------------------------------------- the fit

class _Problem:
    """Tensors and losses of one fit."""

    def __init__(self, body, opts: FitOptions, T: int):
        import torch

        self.torch = torch
        self.opts = opts
        # The weights the stages change as they go (annealing, batched hypotheses); `opts`, the
        # caller's object, is only read.
        self.w_pose = opts.w_pose
        self.temporal = opts.temporal
        self.dev = torch.device(opts.device)
        self.model = KeypointBody(body, "body25", self.dev, opts.num_betas)
        from neural_render.motion.pose_prior import load_pose_prior

        self.prior = load_pose_prior(device=self.dev)
        self.T = T
        self.kw = torch.as_tensor(BODY25_WEIGHTS, device=self.dev)
        self.obs2d = None  # (C, T, 25, 3) undistorted px + weight
        self.obs3d = None  # (T, 25, 4) world + weight
        self.rel3d = None  # (C, T, 25, 4) hip-relative points in camera c's axes (metres) + weight
        self.floor = None  # (normal (3,), offset ()) tensors: height of x above the floor = n . x + d
        self.contact = None  # (T, 2) left/right foot in contact with the floor (0..1)

    def set_cameras(self, cameras: list[Camera], refine_focal: bool = False):
        torch = self.torch
        f = lambda a: torch.as_tensor(np.asarray(a, np.float32), device=self.dev)  # noqa: E731
        self.cam_R = f(np.stack([c.R for c in cameras]))
        self.cam_t = f(np.stack([c.t for c in cameras]))
        self.cam_f0 = f(np.stack([[c.K[0, 0], c.K[1, 1]] for c in cameras]))
        self.cam_c = f(np.stack([c.K[:2, 2] for c in cameras]))
        self.cam_skew = f(np.stack([c.K[0, 1] for c in cameras]))
        self.log_f = torch.zeros(len(cameras), 1, device=self.dev, requires_grad=refine_focal)

    def focal(self):
        return self.cam_f0 * self.torch.exp(self.log_f)

    def project(self, X):
        """World points (T, K, 3) -> pixels (C, T, K, 2), depth (C, T, K)."""
        pc = self.torch.einsum("cij,tkj->ctki", self.cam_R, X) + self.cam_t[:, None, None]
        z = pc[..., 2].clamp(min=1e-3)
        xy = pc[..., :2] / z[..., None]
        f = self.focal()
        u = f[:, None, None, 0] * xy[..., 0] + self.cam_skew[:, None, None] * xy[..., 1] + self.cam_c[:, None, None, 0]
        v = f[:, None, None, 1] * xy[..., 1] + self.cam_c[:, None, None, 1]
        return self.torch.stack([u, v], -1), pc[..., 2]

    def gm(self, r2, sigma):
        s2 = sigma * sigma
        return s2 * r2 / (s2 + r2)

    def data_terms(self, kp, idx=None, keypoints=None):
        """Per-frame data loss (T,) for keypoints kp (T, 25, 3); idx selects frames of the observations."""
        torch = self.torch
        loss = torch.zeros(kp.shape[0], device=self.dev)
        if self.obs2d is not None:
            obs = self.obs2d if idx is None else self.obs2d[:, idx]
            uv, z = self.project(kp)
            scale = (self.cam_f0[:, 0] / 1000.0)[:, None, None]
            r2 = ((uv - obs[..., :2]) ** 2).sum(-1) / scale ** 2
            w = obs[..., 2] * self.kw
            if keypoints is not None:
                w = w * keypoints
            loss = loss + (w * self.gm(r2, self.opts.robust_sigma)).sum((0, 2))
            # Points must stay in front of the camera.
            loss = loss + 1e4 * (torch.relu(0.1 - z) ** 2).sum((0, 2))
        if self.obs3d is not None:
            obs = self.obs3d if idx is None else self.obs3d[idx]
            r2 = ((kp - obs[..., :3]) ** 2).sum(-1) / 0.005 ** 2
            w = obs[..., 3] * self.kw
            if keypoints is not None:
                w = w * keypoints
            loss = loss + (w * self.gm(r2, self.opts.robust_sigma * 0.2)).sum(-1)
        if self.rel3d is not None:
            obs = self.rel3d if idx is None else self.rel3d[:, idx]
            if kp.shape[0] != obs.shape[1]:  # hypotheses batched as extra frames (stage 1, inits, flips)
                obs = obs.repeat(1, kp.shape[0] // obs.shape[1], 1, 1)
            rel = torch.einsum("cij,tkj->ctki", self.rel_R, kp - kp[:, [9, 12]].mean(1, keepdim=True))
            r2 = ((rel - obs[..., :3]) ** 2).sum(-1) / 0.005 ** 2
            w = obs[..., 3] * self.kw * self.opts.w_rel3d
            if keypoints is not None:
                w = w * keypoints
            loss = loss + (w * self.gm(r2, self.opts.robust_sigma * 0.2)).sum((0, 2))
        return loss

    def floor_terms(self, kp):
        """Floor and foot contacts (0 when no floor is set): nothing below the plane; a foot in
        contact has its lowest point (big toe, small toe or heel) on it and does not slide."""
        torch = self.torch
        if self.floor is None:
            return torch.zeros((), device=self.dev)
        o = self.opts
        n, d = self.floor
        h = kp @ n + d                                                    # (N, 25) metres above the floor
        loss = o.w_floor * (torch.relu(-h) * 100).pow(2).sum()
        if self.contact is not None and kp.shape[0] == self.contact.shape[0]:
            c = self.contact
            feet = torch.stack([h[:, list(FOOT_POINTS[0])], h[:, list(FOOT_POINTS[1])]], 1)   # (T, 2, 3)
            loss = loss + o.w_contact * (c * (feet.min(-1).values * 100).pow(2)).sum()
            if o.temporal and kp.shape[0] >= 2:
                P = torch.stack([kp[:, list(FOOT_POINTS[0])], kp[:, list(FOOT_POINTS[1])]], 1)  # (T, 2, 3, 3)
                step = P[1:] - P[:-1]
                step = step - (step @ n)[..., None] * n                    # along the floor only
                both = (c[1:] * c[:-1])[..., None]
                loss = loss + o.w_slide * (both * (step * 100).pow(2).sum(-1)).sum()
        return loss

    def pose_terms(self, body_pose):
        """Per-frame prior (T,) on the body pose (T, 69), weighted by the current `w_pose`."""
        o = self.opts
        return self.w_pose * self.prior.nll(body_pose) + o.w_limits * self.prior.limit_penalty(body_pose)

    @contextlib.contextmanager
    def hypotheses(self, H: int, w_pose: float | None = None):
        """Meanwhile H hypotheses per frame are batched as extra frames: the 2D observations are
        repeated H times, smoothness is off (hypotheses are not consecutive) and the pose prior may
        weigh `w_pose`. Everything is restored on exit, after an exception too."""
        saved = self.obs2d, self.temporal, self.w_pose
        try:
            if self.obs2d is not None:
                self.obs2d = self.obs2d.repeat(1, H, 1, 1)
            self.temporal = False
            if w_pose is not None:
                self.w_pose = w_pose
            yield
        finally:
            self.obs2d, self.temporal, self.w_pose = saved

    def smooth_terms(self, kp, poses):
        torch = self.torch
        o = self.opts
        if not self.temporal or kp.shape[0] < 3:
            return torch.zeros((), device=self.dev)
        acc = kp[2:] - 2 * kp[1:-1] + kp[:-2]
        vel = poses[1:, 3:] - poses[:-1, 3:]
        return o.w_smooth * (acc * 100.0).pow(2).sum() + o.w_pose_smooth * vel.pow(2).sum()


def _adam(params, lr):
    import torch

    return torch.optim.Adam(params, lr=lr, betas=(0.9, 0.999))


def _cosine(opt, n):
    import torch

    return torch.optim.lr_scheduler.LambdaLR(opt, lambda i: 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(i / max(n, 1), 1))))


def _rest_torso_direction_init(prob: _Problem, betas):
    """Rest-pose BODY_25 keypoints (model space, Y-up) with zero translation: (25, 3) numpy."""
    torch = prob.torch
    with torch.no_grad():
        kp, _ = prob.model.forward(torch.zeros(1, 72, device=prob.dev), betas, torch.zeros(1, 3, device=prob.dev))
    return kp[0].cpu().numpy().astype(np.float64)


def _init_from_3d(prob: _Problem, X: np.ndarray, w: np.ndarray, betas):
    """Root orientation + translation per frame by Kabsch of rest torso keypoints onto 3D points."""
    rest = _rest_torso_direction_init(prob, betas)
    J0 = prob.model.pelvis_rest.astype(np.float64)
    T = X.shape[0]
    root = np.zeros((T, 3))
    trans = np.zeros((T, 3))
    ok = np.zeros(T, bool)
    base = Y_UP_TO_Z_UP
    for t in range(T):
        wt = np.where(np.isfinite(X[t, :, 0]), w[t], 0.0)
        sel = [k for k in TORSO if wt[k] > 0]
        if len(sel) < 3:
            continue
        R = kabsch(rest[sel], X[t, sel], wt[sel])
        ww = wt[sel] / wt[sel].sum()
        ms, md = (ww[:, None] * rest[sel]).sum(0), (ww[:, None] * X[t, sel]).sum(0)
        root[t] = rotations.matrix_to_aa(R)
        trans[t] = md - R @ (ms - J0) - J0
        ok[t] = True
    if not ok.any():
        root[:] = rotations.matrix_to_aa(base)
        return root, trans, ok
    _fill_missing(root, ok)
    _fill_missing(trans, ok)
    return root, trans, ok


def _fill_missing(a: np.ndarray, ok: np.ndarray) -> None:
    """Copy the nearest valid frame into invalid frames (in place)."""
    good = np.flatnonzero(ok)
    if len(good) == 0 or ok.all():
        return
    for t in np.flatnonzero(~ok):
        a[t] = a[good[np.argmin(np.abs(good - t))]]


def fit_keypoints(body, **kwargs):
    """Fit SMPL to keypoints; see `_fit_keypoints` (this wrapper sets CPU threads for the fit)."""
    import torch

    opts = kwargs.get("options") or FitOptions()
    kwargs["options"] = opts
    saved = torch.get_num_threads()
    if opts.cpu_threads and torch.device(opts.device).type == "cpu":
        torch.set_num_threads(opts.cpu_threads)
    try:
        return _fit_keypoints(body, **kwargs)
    finally:
        torch.set_num_threads(saved)


def _fit_keypoints(body, *, obs2d: np.ndarray | None = None, cameras: list[Camera] | None = None,
                  obs3d: np.ndarray | None = None, layout: str = "body25", fps: float = 30.0,
                  options: FitOptions | None = None, world: str = "", init3d: np.ndarray | None = None,
                  init_motion=None, rel3d: np.ndarray | None = None, rel3d_layout: str | None = None,
                  floor: tuple[np.ndarray, float] | None = None, contacts: np.ndarray | None = None):
    """Fit SMPL to keypoints.

    Args:
        body: BodyModel (needs a 'body25' keypoint regressor).
        obs2d: (C, T, K, 3) observed pixels (with lens distortion, as detected) + confidence, in
            `layout`, one slice per camera of `cameras`.
        obs3d: (T, K, 4) world points (Z-up, metres) + confidence, in `layout`.
        init3d: (T, 25, 4) BODY_25 world points + confidence used only to initialize (e.g. triangulated).
        init_motion: a Motion (up="z", same world, T frames) to start from instead (stage 1 skipped).
        rel3d: (C, T, K, 4) metric 3D per camera of `cameras`, in that camera's OpenCV axes (x right,
            y down, z forward; any origin: it is made hip-relative) + visibility, in `layout` (needs
            the hips) -- MediaPipe world landmarks are exactly this. Zero weight = not seen.
        rel3d_layout: layout of rel3d when it differs from `layout` (e.g. OpenPose 2D + MediaPipe 3D).
        floor: (unit normal (3,), offset) of the floor plane in the world: height = n . x + d; no
            keypoint goes below it. contacts: (T, 2) left/right foot on the floor (0..1): the foot's
            lowest point stays on the plane and does not slide (see motion/floor.py).
    Returns:
        FitResult with a Motion (up="z") in the cameras' world.
    """
    import torch

    opts = options or FitOptions()
    t_start = time.perf_counter()
    if obs2d is None and obs3d is None:
        raise ValueError("need 2D or 3D observations")
    T = (obs2d.shape[1] if obs2d is not None else obs3d.shape[0])
    # Copies: a refined focal length must not change the caller's cameras.
    cams = [Camera(c.K.copy(), c.world_to_camera.copy(), c.width, c.height, c.dist.copy(), c.name)
            for c in (cameras or [])]
    if obs2d is not None and (obs2d.ndim != 4 or obs2d.shape[0] != len(cams) or obs2d.shape[-1] != 3):
        raise ValueError(f"obs2d has shape {obs2d.shape}; expected ({len(cams)} cameras, T, K, 3)")
    if rel3d is not None and obs2d is not None and len(cams) == 1 and obs3d is None:
        opts = dataclasses.replace(opts, w_pose=opts.w_pose * opts.pose_scale_single_rel3d)
    prob, missing, stats = _observations(body, opts, T, cams, obs2d, obs3d, layout, rel3d, rel3d_layout,
                                         floor, contacts)
    stats["pose_prior_weight"] = opts.w_pose
    betas = torch.zeros(1, prob.model.num_betas, device=prob.dev, requires_grad=opts.fit_shape)
    root_t, trans_t = _stage1(prob, cams, betas, opts, stats, obs3d, init3d, init_motion)
    root_t, trans_t, body_pose = _stage2(prob, cams, root_t, trans_t, betas, opts, stats, obs2d, obs3d, init_motion)
    return _report(prob, cams, root_t, trans_t, body_pose, betas, opts, stats, missing, t_start,
                   obs2d, obs3d, layout, fps, world)


def _observations(body, opts: FitOptions, T: int, cams: list[Camera], obs2d, obs3d, layout: str, rel3d,
                  rel3d_layout, floor, contacts):
    """The fit's problem with its observations in place (2D undistorted and confidence-gated, 3D,
    per-camera relative 3D, floor and foot contacts; see `_fit_keypoints`).

    Returns (problem, (T,) bool frames with too few confident keypoints, stats)."""
    import torch

    prob = _Problem(body, opts, T)
    dev = prob.dev
    valid_count = np.zeros(T)
    if obs2d is not None:
        b25 = to_body25(obs2d, layout).astype(np.float64)  # (C, T, 25, 3)
        conf = np.where(b25[..., 2] >= opts.min_conf, b25[..., 2], 0.0)
        und = np.stack([cams[c].undistort_pixels(b25[c, ..., :2]) for c in range(len(cams))])
        prob.obs2d = torch.as_tensor(np.concatenate([und, conf[..., None]], -1), dtype=torch.float32, device=dev)
        prob.set_cameras(cams, refine_focal=opts.refine_focal)
        valid_count = np.maximum(valid_count, (conf > 0).sum(-1).max(0))
    if obs3d is not None:
        b3 = to_body25(obs3d, layout).astype(np.float64)
        good = np.isfinite(b3).all(-1) & (b3[..., 3] >= opts.min_conf)
        b3 = np.where(good[..., None], b3, 0.0)
        prob.obs3d = torch.as_tensor(b3, dtype=torch.float32, device=dev)
        valid_count = np.maximum(valid_count, good.sum(-1))
    if rel3d is not None:
        if rel3d.ndim != 4 or rel3d.shape[0] != len(cams) or rel3d.shape[1] != T or rel3d.shape[-1] != 4:
            raise ValueError(f"rel3d has shape {rel3d.shape}; expected ({len(cams)} cameras, {T}, K, 4)")
        r3 = to_body25(rel3d, rel3d_layout or layout).astype(np.float64)
        ok = np.isfinite(r3).all(-1) & (r3[..., 3] >= opts.min_conf) & (r3[..., [9], 3] > 0) & (r3[..., [12], 3] > 0)
        r3[..., :3] -= r3[..., [9, 12], :3].mean(-2, keepdims=True)
        r3 = np.where(ok[..., None], r3, 0.0)
        prob.rel3d = torch.as_tensor(r3, dtype=torch.float32, device=dev)
        prob.rel_R = torch.as_tensor(np.stack([c.R for c in cams]), dtype=torch.float32, device=dev)
        stats_rel = {"rel3d_points": int(ok.sum())}
    if floor is not None:
        prob.floor = (torch.as_tensor(np.asarray(floor[0], np.float32), device=dev),
                      torch.as_tensor(float(floor[1]), dtype=torch.float32, device=dev))
        if contacts is not None:
            prob.contact = torch.as_tensor(np.asarray(contacts, np.float32).reshape(T, 2), device=dev)
    missing = valid_count < opts.min_keypoints

    stats = {"frames": T, "device": str(dev)}
    if rel3d is not None:
        stats.update(stats_rel)
    return prob, missing, stats


def _stage1(prob: _Problem, cams: list[Camera], betas, opts: FitOptions, stats: dict, obs3d, init3d, init_motion):
    """Stage 1: root orientation + translation per frame (from init_motion, from 3D points, or from
    several yaw hypotheses in 2D). Returns (root (T, 3), trans (T, 3)) tensors; adds to stats."""
    import torch

    T, dev = prob.T, prob.dev
    t1 = time.perf_counter()
    init_pts = None
    if obs3d is not None:
        init_pts = prob.obs3d.cpu().numpy()
    elif init3d is not None:
        init_pts = to_body25(init3d, "body25") if init3d.shape[1] != 25 else init3d
    if init_motion is not None:
        root_t = torch.as_tensor(init_motion.poses[:, :3], dtype=torch.float32, device=dev)
        trans_t = torch.as_tensor(init_motion.trans, dtype=torch.float32, device=dev)
        stats["init"] = "motion"
    elif init_pts is not None:
        X = np.where(init_pts[..., 3:] > 0, init_pts[..., :3], np.nan)
        root, trans, _ = _init_from_3d(prob, X, init_pts[..., 3], betas.detach())
        root_t = torch.as_tensor(root, dtype=torch.float32, device=dev).requires_grad_(True)
        trans_t = torch.as_tensor(trans, dtype=torch.float32, device=dev).requires_grad_(True)
        body_pose = torch.zeros(T, 69, device=dev)
        _stage(prob, root_t, trans_t, body_pose, betas, opts.iters_global, TORSO, fit=("root", "trans"))
        stats["init"] = "3d"
    else:
        root_t, trans_t = _multi_init_2d(prob, cams, betas, opts)
        stats["init"] = f"{opts.yaw_inits} yaw hypotheses"
    stats["stage1_s"] = round(time.perf_counter() - t1, 3)

    return root_t, trans_t


def _stage2(prob: _Problem, cams: list[Camera], root_t, trans_t, betas, opts: FitOptions, stats: dict, obs2d, obs3d,
            init_motion):
    """Stage 2: everything (root, translation, body pose, then shape and focal length), with the
    annealed pose prior and the limb-flip search for a single view. Returns (root, trans, body_pose)."""
    import torch

    T, dev = prob.T, prob.dev
    t2 = time.perf_counter()
    body_pose = prob.prior.mean_pose.expand(T, -1).clone().requires_grad_(True)
    if init_motion is None and opts.pose_inits > 1 and obs2d is not None and len(cams) == 1 and obs3d is None:
        with torch.no_grad():
            body_pose[:] = _multi_pose_init(prob, root_t, trans_t, betas.detach(), opts)
    if init_motion is not None:
        with torch.no_grad():
            body_pose[:] = torch.as_tensor(init_motion.poses[:, 3:], dtype=torch.float32, device=dev)
            if opts.fit_shape:
                nb = min(len(init_motion.betas), betas.shape[1])
                betas[0, :nb] = torch.as_tensor(init_motion.betas[:nb], device=dev)
    root_t = root_t.detach().requires_grad_(True)
    trans_t = trans_t.detach().requires_grad_(True)
    # Annealed pose prior (as SMPLify): a strong prior first keeps limbs near plausible stances while
    # the data pulls them into place, so they do not settle in mirrored-depth minima.
    single_view = obs2d is not None and len(cams) == 1 and obs3d is None
    # Several views or 3D targets pin the limbs' depth: no annealing needed.
    anneal = opts.anneal if init_motion is None and single_view else (1.0,)
    flips = 0
    for i, m in enumerate(anneal):
        prob.w_pose = opts.w_pose * m
        last = i == len(anneal) - 1
        iters = opts.single_view_iters() if single_view else opts.iters_pose
        _stage(prob, root_t, trans_t, body_pose, betas, iters // len(anneal), None,
               fit=("root", "trans", "pose") + (("betas",) if opts.fit_shape and last else ())
               + (("focal",) if opts.refine_focal and obs2d is not None and last else ()))
        if single_view and opts.flip_search and not last:
            flips += _flip_search(prob, root_t, trans_t, body_pose, betas.detach(), cams[0])
    prob.w_pose = opts.w_pose
    stats["limb_flips"] = flips
    stats["stage2_s"] = round(time.perf_counter() - t2, 3)
    with torch.no_grad():
        stats["final_loss_per_frame"] = round(float(_total_loss(prob, root_t, trans_t, body_pose, betas, None, ("root", "trans", "pose", "betas"))) / T, 3)

    return root_t, trans_t, body_pose


def _report(prob: _Problem, cams: list[Camera], root_t, trans_t, body_pose, betas, opts: FitOptions, stats: dict,
            missing, t_start: float, obs2d, obs3d, layout: str, fps: float, world: str) -> FitResult:
    """The fitted Motion with its per-frame checks: reprojection in the real (distorted) images,
    3D error, implausible and high-error frames, timings."""
    import torch

    T = prob.T
    with torch.no_grad():
        poses = torch.cat([root_t, body_pose], 1)
        poses[:, 66:] = 0  # hands are not observed by body keypoints
        kp, joints = prob.model.forward(poses, betas, trans_t)
        if opts.refine_focal and obs2d is not None:
            f = prob.focal().cpu().numpy()
            for c, cam in enumerate(cams):
                cam.K = cam.K.copy()
                cam.K[0, 0], cam.K[1, 1] = f[c]
        prior_nll = prob.prior.nll(poses[:, 3:]).cpu().numpy()
        limit_pen = prob.prior.limit_penalty(poses[:, 3:]).cpu().numpy()
    poses_np = poses.cpu().numpy().astype(np.float32)
    kp_np = kp.cpu().numpy().astype(np.float64)
    joints_np = joints.cpu().numpy().astype(np.float64)
    from neural_render.motion.plausibility import implausible_frames

    implausible = implausible_frames(prior_nll, limit_pen, joints_np, fps, [c.center for c in cams], opts.temporal)
    betas_np = betas.detach().cpu().numpy()[0]
    # Reprojection in the real (distorted) images.
    rep = np.full((T, max(len(cams), 0)), np.nan)
    if obs2d is not None:
        b25 = to_body25(obs2d, layout).astype(np.float64)
        for c, cam in enumerate(cams):
            uv = cam.project(kp_np)[0]
            err = np.linalg.norm(uv - b25[c, ..., :2], axis=-1)
            seen = b25[c, ..., 2] >= max(opts.min_conf, 0.3)
            with np.errstate(invalid="ignore"):
                rep[:, c] = np.where(seen.any(-1), np.nansum(np.where(seen, err, 0), -1) / np.maximum(seen.sum(-1), 1), np.nan)
    err3 = None
    if obs3d is not None:
        b3 = prob.obs3d.cpu().numpy()
        seen = b3[..., 3] > 0
        d = np.linalg.norm(kp_np - b3[..., :3], axis=-1)
        err3 = np.where(seen.any(-1), (d * seen).sum(-1) / np.maximum(seen.sum(-1), 1), np.nan)
    if opts.high_error_px is not None:
        thr = opts.high_error_px
    else:
        thr = max(15.0, 0.02 * max([max(c.width, c.height) for c in cams] or [0]))
    high = np.zeros(T, bool)
    if rep.size:
        with np.errstate(invalid="ignore"):
            high |= np.nanmax(np.where(np.isfinite(rep), rep, -1), 1) > thr
    if err3 is not None:
        high |= np.nan_to_num(err3) > 0.08
    stats["total_s"] = round(time.perf_counter() - t_start, 3)
    stats["frames_per_s"] = round(T / max(stats["total_s"], 1e-9), 1)
    stats["high_error_threshold_px"] = thr

    from neural_render.motion.motion import Motion

    motion = Motion(poses_np, trans_t.detach().cpu().numpy(), betas_np, fps=fps, up="z",
                    metadata={"source": "keypoint fit", "world": world})
    return FitResult(motion, cams, rep, kp_np, joints_np, {"missing": missing, "high_error": high & ~missing},
                     world, stats, err3, implausible)


def _stage(prob: _Problem, root, trans, body_pose, betas, iters: int, keypoints, fit):
    """Optimise the chosen parameters (`fit`: names among root, trans, pose, betas, focal) with
    FitOptions.optimizer: L-BFGS (the default) or Adam. keypoints: the BODY_25 indices the data
    term uses (None: all)."""
    torch = prob.torch
    params = {"root": root, "trans": trans, "pose": body_pose, "betas": betas, "focal": prob.log_f if hasattr(prob, "log_f") else None}
    chosen = [params[k] for k in fit if params.get(k) is not None]
    for p in chosen:
        p.requires_grad_(True)
    mask = None
    if keypoints is not None:
        mask = torch.zeros(25, device=prob.dev)
        mask[list(keypoints)] = 1
    T = root.shape[0]
    if prob.opts.optimizer == "lbfgs":
        opt = torch.optim.LBFGS(chosen, lr=1.0, max_iter=iters, max_eval=int(iters * 1.5), history_size=20,
                                tolerance_grad=1e-7, tolerance_change=1e-10, line_search_fn="strong_wolfe")

        def closure():
            opt.zero_grad(set_to_none=True)
            loss = _total_loss(prob, root, trans, body_pose, betas, mask, fit)
            loss.backward()
            return loss

        loss = opt.step(closure)
        return loss.detach() / T
    opt = _adam(chosen, prob.opts.lr)
    sched = _cosine(opt, iters)
    for _ in range(iters):
        opt.zero_grad(set_to_none=True)
        loss = _total_loss(prob, root, trans, body_pose, betas, mask, fit)
        loss.backward()
        opt.step()
        sched.step()
    return loss.detach() / T


def _total_loss(prob, root, trans, body_pose, betas, mask, fit):
    torch = prob.torch
    o = prob.opts
    pose_full = torch.cat([root, body_pose[:, :63], torch.zeros(root.shape[0], 6, device=prob.dev)], 1)
    kp, _ = prob.model.forward(pose_full, betas, trans)
    loss = prob.data_terms(kp, keypoints=mask).sum() + prob.floor_terms(kp)
    if "pose" in fit:
        loss = loss + prob.pose_terms(body_pose).sum() + prob.smooth_terms(kp, pose_full)
    elif prob.temporal and kp.shape[0] >= 3:
        loss = loss + o.w_smooth * ((kp[2:] - 2 * kp[1:-1] + kp[:-2]) * 100).pow(2).sum()
    if "betas" in fit:
        loss = loss + o.w_shape * betas.pow(2).sum()
    if "focal" in fit:
        loss = loss + o.w_focal * prob.log_f.pow(2).sum() * root.shape[0]
    return loss


LIMBS = ((2, 5, 8), (1, 4, 7), (17, 19, 21), (16, 18, 20))  # (upper, middle, end) SMPL joints


def _flip_search(prob: "_Problem", root, trans, body_pose, betas, cam: Camera) -> int:
    """Monocular depth ambiguity of limbs: try each limb's upper and lower segment mirrored in depth
    (reflected about the plane facing the camera), keep per frame whatever lowers data + prior.

    Returns the number of (frame, limb) changes made. Acts in place on body_pose.
    """
    import torch

    from neural_render.body.lbs import global_transforms

    T = root.shape[0]
    changes = 0
    with torch.no_grad():
        base_pose = torch.cat([root, body_pose[:, :63], torch.zeros(T, 6, device=prob.dev)], 1)
        for a, b, c in LIMBS:
            poses = base_pose.cpu().numpy().astype(np.float64)
            R = rotations.aa_to_matrix(poses.reshape(T, 24, 3))
            rest = prob.model.rest_joints(betas).cpu().numpy().astype(np.float64)
            G, P = global_transforms(R, np.repeat(rest, T, 0) if rest.shape[0] == 1 else rest, prob.model.parents_np)
            P = P + trans.cpu().numpy()[:, None]
            view = P[:, a] - cam.center
            view /= np.linalg.norm(view, axis=-1, keepdims=True)

            def reflect(d):
                return d - 2 * (d * view).sum(-1, keepdims=True) * view

            cands = [poses]
            for flip_upper, flip_lower in ((True, False), (False, True), (True, True)):
                Ga, Gb = G[:, a].copy(), G[:, b].copy()
                if flip_upper:
                    Q = rotations.rotations_between(P[:, b] - P[:, a], reflect(P[:, b] - P[:, a]))
                    Ga, Gb = Q @ Ga, Q @ Gb
                if flip_lower:
                    w = (Gb @ np.swapaxes(G[:, b], 1, 2) @ (P[:, c] - P[:, b])[..., None])[..., 0]
                    Gb = rotations.rotations_between(w, reflect(w)) @ Gb
                p = poses.copy().reshape(T, 24, 3)
                pa = prob.model.parents_np[a]
                p[:, a] = rotations.matrix_to_aa(np.swapaxes(G[:, pa], 1, 2) @ Ga)
                p[:, b] = rotations.matrix_to_aa(np.swapaxes(Ga, 1, 2) @ Gb)
                cands.append(p.reshape(T, 72))
            X = torch.as_tensor(np.concatenate(cands), dtype=torch.float32, device=prob.dev)
            H = len(cands)
            kp, _ = prob.model.forward(X, betas, trans.repeat(H, 1))
            with prob.hypotheses(H):
                cost = prob.data_terms(kp) + prob.pose_terms(X[:, 3:])
            best = cost.reshape(H, T).argmin(0)
            changes += int((best > 0).sum())
            base_pose = X.reshape(H, T, 72)[best, torch.arange(T, device=prob.dev)]
        body_pose[:, :63] = base_pose[:, 3:66]
    return changes


def _multi_pose_init(prob: "_Problem", root, trans, betas, opts: FitOptions):
    """Start each frame's body pose from the best of several prior modes after a short fit."""
    import torch

    T = root.shape[0]
    starts = torch.cat([prob.prior.mean_pose[None], prob.prior.start_poses])[:opts.pose_inits]
    H = starts.shape[0]
    bp = starts.repeat_interleave(T, 0).clone()
    r = root.detach().repeat(H, 1).clone()
    tr = trans.detach().repeat(H, 1).clone()
    with prob.hypotheses(H, w_pose=prob.w_pose * (opts.anneal[0] if opts.anneal else 1.0)):
        _stage(prob, r, tr, bp, betas, min(opts.iters_pose_init, opts.single_view_iters()), None,
               fit=("root", "trans", "pose"))
        with torch.no_grad():
            pose_full = torch.cat([r, bp[:, :63], torch.zeros(H * T, 6, device=prob.dev)], 1)
            kp, _ = prob.model.forward(pose_full, betas, tr)
            cost = (prob.data_terms(kp) + prob.pose_terms(bp)).reshape(H, T)
    best = cost.argmin(0)
    idx = best * T + torch.arange(T, device=prob.dev)
    with torch.no_grad():
        root.copy_(r[idx])
        trans.copy_(tr[idx])
    return bp.detach()[idx]


def _multi_init_2d(prob: _Problem, cams: list[Camera], betas, opts: FitOptions):
    """Stage 1 for 2D: several yaw hypotheses per frame, batched; keep the best per frame."""
    torch = prob.torch
    T = prob.T
    obs = prob.obs2d.cpu().numpy()  # (C, T, 25, 3)
    cam = cams[0]
    c0 = 0
    rest = _rest_torso_direction_init(prob, betas.detach())
    J0 = prob.model.pelvis_rest.astype(np.float64)
    # Depth from the torso's image size vs the rest body's (shoulder-hip) size, per frame.
    f = cam.K[0, 0]
    size3d = (np.linalg.norm(rest[2] - rest[9]) + np.linalg.norm(rest[5] - rest[12])) / 2
    o = obs[c0]
    conf = o[..., 2]
    sz = np.full(T, np.nan)
    for a, b in ((2, 9), (5, 12), (1, 8)):
        ok = (conf[:, a] > 0) & (conf[:, b] > 0)
        d = np.linalg.norm(o[:, a, :2] - o[:, b, :2], axis=-1) * (size3d / max(np.linalg.norm(rest[a] - rest[b]), 1e-3))
        sz = np.where(ok & ~(sz > d), d, sz)  # the largest torso segment (least foreshortened)
    okf = np.isfinite(sz) & (sz > 1)
    depth = np.where(okf, f * size3d / np.where(okf, sz, 1), np.nan)
    w = np.where(conf > 0, conf, 0)
    centre = (w[..., None] * o[..., :2]).sum(1) / np.maximum(w.sum(1, keepdims=True), 1e-9)
    okc = w.sum(1) > 0
    depth[~okf] = np.nanmedian(depth) if okf.any() else 3.0
    centre[~okc] = np.array([(cam.width - 1) / 2, (cam.height - 1) / 2])  # the image centre
    # Back-project the keypoints' centre to that depth -> world position of the body's centre.
    ray = np.linalg.inv(cam.K) @ np.concatenate([cam.undistort_pixels(centre), np.ones((T, 1))], 1).T
    pc = (ray / ray[2]).T * depth[:, None]
    pw = (pc - cam.t) @ cam.R  # camera -> world
    up = -cam.R[1]  # world direction of image-up
    up_axis = np.array([0, 0, 1.0]) if abs(up[2]) > 0.5 else up / np.linalg.norm(up)
    # Facing the camera: the body's front (+z model) points back at the camera.
    to_cam = cam.center - pw.mean(0)
    to_cam -= up_axis * (to_cam @ up_axis)
    # The body faces model +z, i.e. world -y (angle -90 deg) after the up turn; turn that onto to_cam.
    yaw0 = math.atan2(to_cam[1], to_cam[0]) + math.pi / 2
    H = max(1, opts.yaw_inits)
    roots, transs = [], []
    mean_rest = rest[list(TORSO)].mean(0)
    for h in range(H):
        Rw = rotations.axis_rotation("Z", yaw0 + 2 * math.pi * h / H) @ Y_UP_TO_Z_UP
        roots.append(np.repeat(rotations.matrix_to_aa(Rw)[None], T, 0))
        transs.append(pw - Rw @ (mean_rest - J0) - J0)
    root = torch.as_tensor(np.concatenate(roots), dtype=torch.float32, device=prob.dev).requires_grad_(True)
    trans = torch.as_tensor(np.concatenate(transs), dtype=torch.float32, device=prob.dev).requires_grad_(True)
    # Batch the hypotheses as extra frames; smoothness off (hypotheses are not consecutive).
    body_pose = torch.zeros(T * H, 69, device=prob.dev)
    with prob.hypotheses(H):
        _stage(prob, root, trans, body_pose, betas.detach(), opts.iters_global, TORSO, fit=("root", "trans"))
        # A second pass with all keypoints picks the hypothesis that also explains head, limbs, feet.
        _stage(prob, root, trans, body_pose, betas.detach(), max(10, opts.iters_global // 4), None,
               fit=("root", "trans"))
        with torch.no_grad():
            pose_full = torch.cat([root, body_pose], 1)
            kp, _ = prob.model.forward(pose_full, betas.detach(), trans)
            per = prob.data_terms(kp).reshape(H, T)
    best = per.argmin(0)
    idx = best * T + torch.arange(T, device=prob.dev)
    return root.detach()[idx], trans.detach()[idx]
