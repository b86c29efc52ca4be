"""Issue 18: what moving the single-view fit's principal point from (W/2, H/2) (the old fit camera)
to ((W-1)/2, (H-1)/2) (OpenCV pixel centres, neural_render.camera) does to where the fitted body
projects, i.e. where prepare's passes put it. Two synthetic 12-frame 1920x1080 clips.

    PYTHONPATH=$PWD .venv/bin/python scripts/principal_point_shift.py
"""

import numpy as np

from neural_render.body import load_body
from neural_render.camera import Camera
from neural_render.motion.bench import synthetic_case
from neural_render.motion.fit import FitOptions, fit_keypoints, single_view_camera


def main() -> None:
    body = load_body()
    opts = FitOptions(iters_global=15, iters_pose=150, iters_pose_single=150, pose_inits=3, iters_pose_init=40)
    for seed in (5, 6):
        _, _, _, obs, _ = synthetic_case(body, frames=12, seed=seed)
        new = single_view_camera(1920, 1080)
        old = Camera(new.K.copy(), new.world_to_camera, 1920, 1080, name="old")
        old.K[:2, 2] = [960.0, 540.0]
        uv = {}
        for tag, cam in (("old", old), ("new", new)):
            res = fit_keypoints(body, obs2d=obs, cameras=[cam], layout="body25", fps=25.0, options=opts)
            uv[tag] = cam.project(res.keypoints3d)[0]
        d = uv["new"] - uv["old"]
        n = np.linalg.norm(d, axis=-1)
        print(f"seed {seed}: fitted keypoints move by mean (du, dv) = {np.nanmean(d, (0, 1)).round(3)} px, "
              f"median |d| = {np.nanmedian(n):.3f} px, p95 = {np.nanpercentile(n, 95):.3f} px")


if __name__ == "__main__":
    main()
