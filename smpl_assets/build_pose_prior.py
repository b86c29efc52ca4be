"""Build smpl_assets/pose_prior.npz: a Gaussian mixture over SMPL body poses + joint limits.

Data: free mocap only. By default the shared CMU clips (walk, hop: BVH; dance/whirl: FBX when bpy
is present) retargeted onto the default body with the project's own BVH/FBX retargeting, and
optionally the shared SMPL sample sequence (--with-smpl-sample; off by default because the fitting
tests use that sequence as held-out ground truth). Every pose is also mirrored left/right.
Joint limits: smpl_assets/joint_limits.json (anatomical, degrees), widened to the data's 0.1-99.9 %
range (0.5-99.5 %) so the mocap itself is rarely penalized, except for the joints the JSON marks
'strict' (knees, elbows: retargeting noise must not teach them to hyperextend).

    .venv/bin/python smpl_assets/build_pose_prior.py [--components 12] [--data ../shared/data]

Deterministic (seeded); runs in about a minute on 2 CPU cores (FBX through bpy adds ~20 s).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from neural_render.body.skeletons import SMPL_JOINT_NAMES  # noqa: E402
from neural_render.motion.pose_prior import mirror_poses  # noqa: E402

GMM_DIMS = 63  # joints 1..21 (hands are not seen by body keypoints)


def cmu_poses(data: Path, stride: int, log) -> list[np.ndarray]:
    """Body poses (T, 69) from the shared CMU clips, retargeted onto the default body."""
    from neural_render.body import load_body
    from neural_render.motion.bone_maps import auto_map
    from neural_render.motion.bvh import read_bvh
    from neural_render.motion.retarget import retarget
    from neural_render.motion.source_skeleton import clip_from_bvh

    body = load_body()
    out = []
    for name in ("cmu_131_01_walk.bvh", "cmu_131_03_hop.bvh"):
        clip = clip_from_bvh(read_bvh(data / "mocap" / name))
        mapping, how, _ = auto_map(clip.skeleton)
        res = retarget(clip, body, mapping, up="y")
        out.append(res.motion.poses[::stride, 3:])
        log(f"{name}: {len(out[-1])} poses (mapping: {how})")
    try:
        from neural_render.motion.fbx import read_fbx

        clip = read_fbx(data / "mocap" / "cmu_55_01_dance_whirl.fbx")
        mapping, how, _ = auto_map(clip.skeleton)
        res = retarget(clip, body, mapping, up="y")
        out.append(res.motion.poses[::stride, 3:])
        log(f"cmu_55_01_dance_whirl.fbx: {len(out[-1])} poses")
    except Exception as e:  # bpy or the FBX reader missing: the BVH clips still make a prior
        log(f"FBX clip skipped ({type(e).__name__}: {e})")
    return out


def smpl_sample_poses(data: Path) -> np.ndarray:
    from neural_render.body.safe_pickle import safe_load_pickle

    d = safe_load_pickle(data / "smpl" / "smpl_to_fbx_sample.pkl")
    return np.asarray(d["smpl_poses"], np.float64)[:, 3:]


def kmeans_pp(X: np.ndarray, k: int, rng) -> np.ndarray:
    centres = [X[rng.integers(len(X))]]
    for _ in range(k - 1):
        d2 = np.min([((X - c) ** 2).sum(1) for c in centres], 0)
        centres.append(X[rng.choice(len(X), p=d2 / d2.sum())])
    return np.array(centres)


def fit_gmm(X: np.ndarray, k: int, seed: int = 0, iters: int = 100, reg: float = 0.01, shrink: float = 0.3):
    """EM for a full-covariance GMM; covariances shrunk toward the global diagonal plus reg*I."""
    rng = np.random.default_rng(seed)
    N, D = X.shape
    mu = kmeans_pp(X, k, rng)
    gdiag = np.diag(X.var(0))
    cov = np.repeat((gdiag + reg * np.eye(D))[None], k, 0)
    w = np.full(k, 1.0 / k)
    prev = -np.inf
    for it in range(iters):
        L = np.linalg.cholesky(cov)
        logdet = 2 * np.log(np.diagonal(L, axis1=1, axis2=2)).sum(1)
        logp = np.empty((N, k))
        for j in range(k):
            z = np.linalg.solve(L[j], (X - mu[j]).T)
            logp[:, j] = np.log(w[j]) - 0.5 * (z * z).sum(0) - 0.5 * logdet[j] - 0.5 * D * np.log(2 * np.pi)
        m = logp.max(1, keepdims=True)
        ll = float((m[:, 0] + np.log(np.exp(logp - m).sum(1))).mean())
        r = np.exp(logp - m)
        r /= r.sum(1, keepdims=True)
        nk = r.sum(0) + 1e-9
        w = nk / N
        mu = (r.T @ X) / nk[:, None]
        for j in range(k):
            d = X - mu[j]
            c = (r[:, j, None] * d).T @ d / nk[j]
            cov[j] = (1 - shrink) * c + shrink * gdiag + reg * np.eye(D)
        if abs(ll - prev) < 1e-4 * abs(ll):
            break
        prev = ll
    return w, mu, cov, ll, it + 1


def joint_limits(path: Path, data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    spec = json.loads(path.read_text())
    lo, hi = np.zeros(69), np.zeros(69)
    for j, name in enumerate(SMPL_JOINT_NAMES[1:]):
        lim = spec["joints"].get(name, spec["default"])
        for a, ax in enumerate("xyz"):
            lo[3 * j + a], hi[3 * j + a] = np.radians(lim[ax])
    q_lo, q_hi = np.percentile(data, 0.5, 0), np.percentile(data, 99.5, 0)
    wlo, whi = np.minimum(lo, q_lo), np.maximum(hi, q_hi)
    for j, name in enumerate(SMPL_JOINT_NAMES[1:]):
        if name in spec.get("strict", []):
            wlo[3 * j:3 * j + 3], whi[3 * j:3 * j + 3] = lo[3 * j:3 * j + 3], hi[3 * j:3 * j + 3]
    return wlo, whi


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=HERE.parent.parent / "shared" / "data")
    ap.add_argument("--out", type=Path, default=HERE / "pose_prior.npz")
    ap.add_argument("--components", type=int, default=12)
    ap.add_argument("--stride", type=int, default=2, help="keep every n-th mocap frame (120 fps clips)")
    ap.add_argument("--with-smpl-sample", action="store_true", help="also use the shared SMPL sample sequence")
    ap.add_argument("--only-smpl-sample", action="store_true", help="use only the SMPL sample (no retargeting)")
    args = ap.parse_args(argv)
    log = print
    sets, sources = [], []
    if not args.only_smpl_sample:
        sets += cmu_poses(args.data, args.stride, log)
        sources += ["cmu_131_01_walk.bvh", "cmu_131_03_hop.bvh", "cmu_55_01_dance_whirl.fbx"][:len(sets)]
    if args.with_smpl_sample or args.only_smpl_sample:
        sets.append(smpl_sample_poses(args.data))
        sources.append("smpl_to_fbx_sample.pkl")
    poses = np.concatenate(sets).astype(np.float64)
    poses = np.concatenate([poses, mirror_poses(poses)])
    X = poses[:, :GMM_DIMS]
    k = max(1, min(args.components, len(X) // 200))
    w, mu, cov, ll, its = fit_gmm(X, k)
    prec = np.linalg.inv(cov)
    chol = np.linalg.cholesky(prec)                    # precision = L L^T
    logdet = np.linalg.slogdet(cov)[1]
    const = -np.log(w) + 0.5 * logdet
    const -= const.min()
    lo, hi = joint_limits(HERE / "joint_limits.json", poses)
    from neural_render.fileio import write_npz

    write_npz(args.out, means=mu.astype(np.float32), precision_chol=chol.astype(np.float32),
              weights=w.astype(np.float32), component_const=const.astype(np.float32),
              limit_lo=lo.astype(np.float32), limit_hi=hi.astype(np.float32),
              sources=np.array(sources), num_poses=np.int64(len(X)),
              description=np.array("GMM over SMPL body pose joints 1..21 (axis-angle, 63-D), max-mixture NLL; "
                                    "joint limits on joints 1..23 (69-D) in radians"))
    log(f"wrote {args.out}: {k} components over {len(X)} poses (with mirrors) from {sources}; "
        f"mean log-lik {ll:.2f} after {its} EM iterations")
    return 0


if __name__ == "__main__":
    sys.exit(main())
