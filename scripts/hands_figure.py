"""docs/hands.png: the whole-body skeleton pass, the 'hands' parts profile and curled fingers.

    .venv/bin/python scripts/hands_figure.py --out docs/hands.png

Top: the upper body of a frame with the fingers curled 60 deg per joint - wholebody skeleton
(DWPose style) and the 'hands' parts profile; bottom: close-ups of the left hand's
normals at finger curls of 0, 30, 60 and 90 degrees (hand poses = AMASS SMPL-H convention).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None) -> int:
    sys.path.insert(0, str(ROOT))
    import cv2

    from neural_render.body import load_body
    from neural_render.body.hand_poses import curl
    from neural_render.fileio import write_image
    from neural_render.camera import Camera
    from neural_render.passes.raster import RasterRenderer
    from neural_render.renderers import iter_frame_passes
    from neural_render.passes.scene import BodyInstance
    from neural_render.passes.spec import parts_colors

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "docs" / "hands.png"))
    args = ap.parse_args(argv)
    body = load_body()
    angles = (0, 30, 60, 90)
    T = len(angles)
    poses = np.zeros((T, 72), np.float32)
    poses[:, 0] = np.pi / 2
    poses[:, 3 * 16 + 2] = -0.5   # arms a little down, elbows bent: hands in front
    poses[:, 3 * 17 + 2] = 0.5
    poses[:, 3 * 18 + 1] = -1.2
    poses[:, 3 * 19 + 1] = 1.2
    hands = np.concatenate([curl(a) for a in angles])
    inst = BodyInstance.from_motion(body, poses, np.zeros((T, 3)), hand_poses=hands)
    pf = inst.posed(list(range(T)))
    chest = pf.joints[2, 9].astype(np.float64)  # spine3, world (Z up, the body faces -y)
    upper = Camera.look_at(chest + np.array([0.0, -1.9, 0.1]), chest, 512, 512, up=(0.0, 0.0, 1.0))
    fr = next(iter_frame_passes([inst], [upper] * T, 512, frames=[2], renderer="raster", profile="hands"))
    top = np.concatenate([fr["skeleton"], parts_colors("hands")[fr["parts"]]], 1)
    r = RasterRenderer(256, 256)
    tiles = []
    try:
        for t in range(T):
            c = pf.wholebody[t, 91:112].mean(0)
            cam = Camera.look_at(c + np.array([0.0, -0.35, 0.1]), c, 256, 256, up=(0.0, 0.0, 1.0))
            n = r.render([inst], [pf.vertices[t]], cam)["normal"]
            m = np.any(n != 0, -1)[..., None]
            tiles.append((np.clip((n + 1) / 2, 0, 1) * 255 * m).astype(np.uint8))
    finally:
        r.close()
    bottom = np.concatenate(tiles, 1)
    img = np.concatenate([top, bottom], 0)
    for t, a in enumerate(angles):
        cv2.putText(img, f"{a} deg", (256 * t + 8, 512 + 24), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 1)
    write_image(args.out, img)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
