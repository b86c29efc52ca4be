"""Refine a keypoint fit so the body fills the person's silhouette in every view.

Keypoint detectors place joints a few centimetres off, and arms are where it shows: the fitted arm
lies beside the real one. The video itself says where the person is: against the static
background (estimated per view by `prepare`), the pixels that differ are the person. This module

1. segments the person: colour distance to the background in CIELAB above a threshold, cleaned by
   morphology, holes filled, and only the blobs that touch the fitted body kept (other people,
   shadows far away and noise drop out);
2. with two or more views, refines the clip's shape (the first 10 betas) on frames spread over
   the clip, kept only if those frames' IoU rises; then refines the poses and translation per
   frame (shape fixed) against two differentiable terms that need no renderer:
   - inside: every projected body vertex must lie inside the silhouette (true for occluded ones
     too: the silhouette is the projection of the whole body), robust distance read from the
     silhouette's distance transform;
   - coverage: every silhouette boundary point must have a projected vertex near it (chamfer);
   tethered to the keypoint fit (robust distance to its 3D keypoints, pose change penalty) and
   smooth in time;
3. measures the silhouette IoU before and after, per view.

A view-frame whose silhouette disagrees with the fit too much (IoU below `min_iou`: the background
estimate failed, the camera moved, someone walked through) is left out of the refinement, and a
frame whose refinement does not raise the IoU summed over its views keeps the keypoint fit.

Shapes: T frames, V vertices, views C. Pixels are the crop camera's (OpenCV, centre of pixel (i, j)
at (i, j)).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class RefineOptions:
    iterations: int = 100
    lr: float = 0.02
    threshold: float = 18.0          # CIELAB distance to the background that counts as person
    min_iou: float = 0.4             # view-frames whose silhouette overlaps the fit less are skipped
    vertex_stride: int = 8           # every n-th vertex enters the silhouette terms
    boundary_points: int = 128       # silhouette boundary samples per view-frame (coverage term)
    sigma_px: float = 8.0            # robust scale of the silhouette terms, pixels
    w_inside: float = 1.0
    w_cover: float = 1.0
    w_tether: float = 0.1
    tether_m: float = 0.04           # robust scale of the keypoint tether, metres
    w_pose: float = 0.5
    w_smooth: float = 20.0
    chunk: int = 100                 # frames optimised together (bounds memory on long clips)
    fit_shape: bool = True           # with 2+ views, first refine the clip's shape (betas) on frames spread over it
    shape_frames: int = 24
    w_shape: float = 0.03            # ridge on the betas (unit-variance components)
    device: str = "cpu"


def person_silhouette(frame: np.ndarray, background: np.ndarray, body_mask: np.ndarray,
                      threshold: float = 18.0, near_px: int = 15) -> np.ndarray:
    """(H, W) bool: pixels of `frame` (H, W, 3 uint8) that differ from `background` in CIELAB by
    more than `threshold`, cleaned, holes filled, keeping only blobs within `near_px` of
    `body_mask` (the fitted body's mask, bool)."""
    import cv2

    lab_f = cv2.cvtColor(frame, cv2.COLOR_RGB2LAB).astype(np.float32)
    lab_b = cv2.cvtColor(background, cv2.COLOR_RGB2LAB).astype(np.float32)
    diff = np.linalg.norm(lab_f - lab_b, axis=-1)
    fg = (diff > threshold).astype(np.uint8)
    fg = cv2.morphologyEx(fg, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    fg = cv2.morphologyEx(fg, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
    near = cv2.dilate(body_mask.astype(np.uint8), np.ones((2 * near_px + 1,) * 2, np.uint8)) > 0
    n, labels = cv2.connectedComponents(fg)
    keep = np.zeros(n, bool)
    keep[np.unique(labels[near & (fg > 0)])] = True
    keep[0] = False
    sil = keep[labels]
    return _fill_holes(sil)


def _fill_holes(mask: np.ndarray) -> np.ndarray:
    import cv2

    m = mask.astype(np.uint8)
    h, w = m.shape
    flood = np.pad(m, 1).copy()
    cv2.floodFill(flood, np.zeros((h + 4, w + 4), np.uint8), (0, 0), 1)
    return mask | (flood[1:-1, 1:-1] == 0)


def splat_mask(points_uv: np.ndarray, height: int, width: int, close_px: int = 2) -> np.ndarray:
    """(H, W) bool mask of projected vertices (N, 2) pixels: the pixels they fall in, closed
    (gaps up to 2 * close_px) and holes filled into a solid silhouette. Dense meshes only (vertex
    spacing on screen under ~2 * close_px); a quick stand-in for a render (IoU ~0.9 with one)."""
    import cv2

    m = np.zeros((height, width), np.uint8)
    ij = np.round(points_uv).astype(int)
    ok = (ij[:, 0] >= 0) & (ij[:, 0] < width) & (ij[:, 1] >= 0) & (ij[:, 1] < height)
    m[ij[ok, 1], ij[ok, 0]] = 1
    m = cv2.morphologyEx(m, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * close_px + 1,) * 2))
    return _fill_holes(m > 0)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else float("nan")


def refine(body, motion, cameras: list, silhouettes, keypoints3d: np.ndarray,
           skip: np.ndarray | None = None, opts: RefineOptions | None = None, progress: bool = False):
    """Refine `motion` (Z-up world, the fit's) against per-view silhouettes.

    Args:
        cameras: per view, the `neural_render.camera.Camera` the silhouettes are seen with (an extra
            name, when set, names the view in the report; else its index).
        silhouettes: per view (T, H, W) bool arrays, or a function (view, t0, t1) -> (t1 - t0, H, W)
            bool that loads a chunk (long clips need not fit in memory).
        keypoints3d: (T, K, 3) the keypoint fit's BODY_25 keypoints (the tether), NaN-free.
        skip: (T,) bool, frames left as they are (flagged by the fit).
    Returns:
        (refined Motion, report dict: per view median silhouette IoU before/after over the frames
        used, and how many frames were refined).
    """
    import torch

    from neural_render.motion.fit import KeypointBody

    opts = opts or RefineOptions()
    load = silhouettes if callable(silhouettes) else (lambda c, a, b: silhouettes[c][a:b])
    T = motion.num_frames
    skip = np.zeros(T, bool) if skip is None else np.asarray(skip, bool)
    dev = torch.device(opts.device)
    kp_model = KeypointBody(body, "body25", dev, num_betas=len(motion.betas))
    skin = _SubsetSkin(body, kp_model, np.arange(0, body.num_vertices, opts.vertex_stride), dev)
    betas = torch.as_tensor(np.asarray(motion.betas, np.float32)[None], device=dev)
    poses = motion.poses.astype(np.float32).copy()
    trans = motion.trans.astype(np.float32).copy()
    C = len(cameras)
    shape_report = None
    if opts.fit_shape and C >= 2:  # one view cannot tell a bigger body from a nearer one
        betas, shape_report = _refine_shape(skin, kp_model, betas, poses, trans, cameras, load, keypoints3d,
                                            skip, body, motion.betas, opts, dev)
    betas_np = betas[0].cpu().numpy()
    before, after = np.full((T, C), np.nan), np.full((T, C), np.nan)
    usable = np.zeros((T, C), bool)
    reverted = 0
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=-(-T // opts.chunk) * opts.iterations, desc="silhouette refine", unit="step")
    for t0 in range(0, T, opts.chunk):
        t1 = min(T, t0 + opts.chunk)
        sils = [np.asarray(load(c, t0, t1), bool) for c in range(C)]
        before[t0:t1] = _ious(body, poses[t0:t1], trans[t0:t1], motion.betas, cameras, sils)
        usable[t0:t1] = (before[t0:t1] >= opts.min_iou) & ~skip[t0:t1, None]
        if usable[t0:t1].any():
            p, tr, _ = _refine_chunk(skin, kp_model, betas, poses[t0:t1], trans[t0:t1], cameras, sils,
                                     keypoints3d[t0:t1], usable[t0:t1], opts, dev, bar)
            new = _ious(body, p, tr, betas_np, cameras, sils)
            # Keep a frame's refinement only where the views it used agree better with the body
            # (poor silhouettes can pull a limb the wrong way; then the keypoint fit stands).
            u = usable[t0:t1]
            gain = np.where(u, new - before[t0:t1], 0.0).sum(1)
            take = u.any(1) & (gain > 0)
            reverted += int((u.any(1) & ~take).sum())
            poses[t0:t1][take], trans[t0:t1][take] = p[take], tr[take]
        after[t0:t1] = _ious(body, poses[t0:t1], trans[t0:t1], betas_np, cameras, sils)
        if bar is not None:
            bar.n = min(bar.total, (t0 // opts.chunk + 1) * opts.iterations)
            bar.refresh()
    if bar is not None:
        bar.close()
    report = {"refined_frames": int(usable.any(1).sum()) - reverted, "kept_fit_frames": reverted,
              "min_iou": opts.min_iou, "shape": shape_report, "views": {}}
    for c, cam in enumerate(cameras):
        ok = usable[:, c]
        report["views"][cam.name or str(c)] = {
            "silhouette_iou_before": _median(before[ok, c]), "silhouette_iou_after": _median(after[ok, c]),
            "frames_used": int(ok.sum()),
            "per_frame_iou_after": [None if not np.isfinite(x) else round(float(x), 3) for x in after[:, c]]}
    return motion.copy(poses=poses, trans=trans, betas=betas_np.astype(np.float32)), report


def _refine_shape(skin, kp_model, betas, poses, trans, cameras, load, keypoints3d, skip, body, betas0, opts, dev):
    """The clip's shared betas refined (with those frames' poses) on up to `shape_frames` frames
    spread over the clip whose silhouettes are usable; kept only if their IoU rises."""
    C = len(cameras)
    cand = np.flatnonzero(~skip)
    idx = cand[np.linspace(0, len(cand) - 1, min(opts.shape_frames, len(cand))).round().astype(int)] if len(cand) else cand
    if len(idx) == 0:
        return betas, None
    sils = [np.concatenate([np.asarray(load(c, int(t), int(t) + 1), bool) for t in idx]) for c in range(C)]
    before = _ious(body, poses[idx], trans[idx], betas0, cameras, sils)
    usable = before >= opts.min_iou
    if not usable.any():
        return betas, None
    _, _, new_betas = _refine_chunk(skin, kp_model, betas, poses[idx], trans[idx], cameras, sils,
                                    keypoints3d[idx], usable, opts, dev, fit_shape=True)
    p, tr, _ = _refine_chunk(skin, kp_model, new_betas, poses[idx], trans[idx], cameras, sils,
                             keypoints3d[idx], usable, opts, dev)
    after = _ious(body, p, tr, new_betas[0].cpu().numpy(), cameras, sils)
    b_iou, a_iou = float(np.mean(before[usable])), float(np.mean(after[usable]))
    keep = a_iou > b_iou
    report = {"frames": int(len(idx)), "iou_before": round(b_iou, 4), "iou_after": round(a_iou, 4), "kept": keep,
              "betas": [round(float(x), 4) for x in new_betas[0].cpu().numpy()]}
    return (new_betas if keep else betas), report


def _median(a) -> float | None:
    a = np.asarray(a, np.float64)
    a = a[np.isfinite(a)]
    return round(float(np.median(a)), 4) if len(a) else None


def _ious(body, poses, trans, betas, cameras, sils) -> np.ndarray:
    """(n, C) IoU of the splatted body mask with each view's silhouette."""
    verts = body.forward(poses, betas, trans).vertices
    out = np.zeros((len(poses), len(cameras)))
    for c, (cam, sil) in enumerate(zip(cameras, sils)):
        uv = cam.project(verts)[0]
        out[:, c] = [iou(splat_mask(uv[t], cam.height, cam.width), sil[t]) for t in range(len(poses))]
    return out


class _SubsetSkin:
    """Linear blend skinning of a vertex subset (no pose correctives), on the keypoint model's
    joint transforms: (poses (N, 72), betas (1, B), trans (N, 3)) -> (N, Vs, 3)."""

    def __init__(self, body, kp_model, vids: np.ndarray, dev):
        import torch

        t = lambda a: torch.as_tensor(np.asarray(a, np.float32), device=dev)  # noqa: E731
        self.kp_model = kp_model
        B = kp_model.num_betas
        self.v = t(body.v_template[vids])
        self.sd = t(body.shapedirs[vids, :, :B])
        self.w = t(body.weights[vids])

    def __call__(self, poses, betas, trans):
        import torch

        G_rot, _, offset, _ = self.kp_model.transforms(poses, betas)
        N, J = G_rot.shape[:2]
        v = self.v + torch.einsum("scb,nb->nsc", self.sd, betas[:, :self.sd.shape[-1]])
        Tv = torch.einsum("sj,njk->nsk", self.w, torch.cat([G_rot.reshape(N, J, 9), offset], -1))
        return (Tv[..., :9].reshape(N, -1, 3, 3) * v[:, :, None, :]).sum(-1) + Tv[..., 9:] + trans[:, None]


def _refine_chunk(skin, kp_model, betas, poses, trans, cameras, sils, kp3d, usable, opts, dev, bar=None,
                  fit_shape: bool = False):
    """Adam on per-frame pose and translation offsets (and, with fit_shape, on the shared betas'
    first 10 components). Returns (poses, trans) as numpy and the betas (1, B) tensor."""
    import cv2
    import torch
    import torch.nn.functional as F

    n = len(poses)
    # Per view: distance outside the silhouette (pixels), as a (n, 1, H, W) image to sample, and
    # boundary samples (n, P, 2) with a validity mask.
    dts, bounds, bvalid, grids_scale = [], [], [], []
    rng = np.random.default_rng(0)
    usable = np.asarray(usable, bool).copy()
    for c, (cam, sil) in enumerate(zip(cameras, sils)):
        # An empty silhouette (the detector lost the person) has no pixel to measure a distance to:
        # OpenCV then returns FLT_MAX everywhere, whose square overflows to inf, and inf / inf in the
        # robust loss is NaN even where the view-frame's weight is 0. One NaN step sends the grid
        # to NaN, and CPU grid_sample's backward then writes out of bounds (a segfault, not an
        # error). So: such view-frames are never used, and distances are capped at the diagonal.
        usable[:, c] &= np.asarray(sil, bool).reshape(n, -1).any(1)
        diag = float(np.hypot(cam.width, cam.height))
        d = np.stack([np.minimum(cv2.distanceTransform((~s).astype(np.uint8), cv2.DIST_L2, 5), diag)
                      for s in sil])
        dts.append(torch.as_tensor(d[:, None], dtype=torch.float32, device=dev))
        pts = np.zeros((n, opts.boundary_points, 2), np.float32)
        ok = np.zeros((n, opts.boundary_points), bool)
        for t, s in enumerate(sil):
            cs, _ = cv2.findContours(s.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
            if not cs:
                continue
            c = np.concatenate([x[:, 0] for x in cs]).astype(np.float32)
            idx = rng.choice(len(c), opts.boundary_points, replace=len(c) < opts.boundary_points)
            pts[t], ok[t] = c[idx], True
        bounds.append(torch.as_tensor(pts, device=dev))
        bvalid.append(torch.as_tensor(ok, device=dev))
        grids_scale.append(torch.tensor([2.0 / cam.width, 2.0 / cam.height], device=dev))
    use = torch.as_tensor(usable, device=dev, dtype=torch.float32)          # (n, C)
    Ks = [torch.as_tensor(c.K, dtype=torch.float32, device=dev) for c in cameras]
    W2C = [torch.as_tensor(c.world_to_camera, dtype=torch.float32, device=dev) for c in cameras]
    p0 = torch.as_tensor(poses, device=dev)
    tr0 = torch.as_tensor(trans, device=dev)
    target_kp = torch.as_tensor(np.asarray(kp3d, np.float32), device=dev)
    dpose = torch.zeros_like(p0, requires_grad=True)
    dtrans = torch.zeros_like(tr0, requires_grad=True)
    dbeta = torch.zeros_like(betas, requires_grad=True)
    shape_mask = torch.zeros_like(betas)
    shape_mask[:, :10] = 1.0  # height + phenotype PCA; proportion components stay as fitted
    params = [dpose, dtrans] + ([dbeta] if fit_shape else [])
    opt = torch.optim.Adam(params, lr=opts.lr)
    s2 = opts.sigma_px ** 2
    gm = lambda sq, s2: sq / (sq + s2)  # noqa: E731  Geman-McClure of a squared distance
    for _ in range(opts.iterations):
        opt.zero_grad()
        pose, tr = p0 + dpose, tr0 + dtrans
        b = betas + dbeta * shape_mask
        v = skin(pose, b, tr)                                              # (n, Vs, 3)
        loss = 0.0
        for c in range(len(cameras)):
            cam_pts = v @ W2C[c][:3, :3].T + W2C[c][:3, 3]
            uvw = cam_pts @ Ks[c].T
            uv = uvw[..., :2] / uvw[..., 2:].clamp(min=1e-3)                  # (n, Vs, 2)
            grid = (uv + 0.5) * grids_scale[c] - 1                            # pixel centres -> [-1, 1]
            d_out = F.grid_sample(dts[c], grid[:, None], mode="bilinear", padding_mode="border",
                                  align_corners=False)[:, 0, 0]               # (n, Vs)
            inside = gm(d_out ** 2, s2).mean(1)
            nearest = torch.cdist(bounds[c], uv).min(-1).values                # (n, P)
            cover = (gm(nearest ** 2, s2) * bvalid[c]).sum(1) / bvalid[c].sum(1).clamp(min=1)
            loss = loss + ((opts.w_inside * inside + opts.w_cover * cover) * use[:, c]).sum() / n
        kp, _ = kp_model.forward(pose, b, tr)
        loss = loss + opts.w_tether * gm(((kp - target_kp) ** 2).sum(-1), opts.tether_m ** 2).mean()
        loss = loss + opts.w_pose * (dpose[:, 3:] ** 2).mean()
        if fit_shape:
            loss = loss + opts.w_shape * (b[:, :10] ** 2).sum()
        if n > 2:
            acc = kp[2:] - 2 * kp[1:-1] + kp[:-2]
            loss = loss + opts.w_smooth * (acc ** 2).sum(-1).mean()
        if not torch.isfinite(loss):
            raise RuntimeError(f"silhouette refinement diverged (loss {float(loss)}); "
                               "this is a bug: please report it with the input")
        loss.backward()
        opt.step()
        if bar is not None:
            bar.update(1)
    with torch.no_grad():
        return (p0 + dpose).cpu().numpy(), (tr0 + dtrans).cpu().numpy(), (betas + dbeta * shape_mask).detach()
