"""The main job on the embedded defaults: default body + shipped CMU walk -> guidance passes
(headless Blender) -> neural frames from the shipped reference-actor checkpoint ->
DIR/demo.mp4 (passes and generated frames side by side) and DIR/contact_sheet.png. Then the
shipped photo (smpl_assets/photos/, Pexels licence) animated with the same walk by `animate`:
DIR/animate/ (frames, passes, animate.mp4, contact_sheet.png); `--no-photo` skips it.

Everything it reads ships in smpl_assets/; nothing is downloaded.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from neural_render.errors import InputError
from neural_render.paths import asset

DEMO_MOTION = "motions/cmu_131_01_walk.npz"
DEMO_CHECKPOINT = "actor_generator.safetensors"
DEMO_PHOTO = "photos/pexels_anete_lusina_4793258_1024.jpg"
# The walking stretch of CMU 131_01 at 30 fps (it starts standing and crouches in the middle).
DEFAULT_FRAMES = (132, 196)
PANELS = ("skeleton", "parts", "normal")


def run_demo(out_dir: str | Path, frames: tuple[int, int] = DEFAULT_FRAMES, size: int = 256,
             renderer: str = "blender", device: str = "auto", checkpoint: str | Path | None = None,
             motion_path: str | Path | None = None, progress: bool = True, photo: bool = True) -> dict:
    """Run the whole pipeline; returns a summary dict (also written to DIR/demo.json)."""
    from neural_render.body import load_body
    from neural_render.generator.infer import generate
    from neural_render.motion import Motion
    from neural_render.renderers import render_passes
    from neural_render.passes.scene import BodyInstance

    out = Path(out_dir)
    checkpoint = Path(checkpoint) if checkpoint else asset(DEMO_CHECKPOINT)
    if not checkpoint.is_file():
        raise InputError("generator checkpoint not found", path=checkpoint,
                         fix="pass --checkpoint, or restore smpl_assets/ from the repository")
    motion = Motion.load(motion_path or asset(DEMO_MOTION))
    a, b = frames
    if not (0 <= a < b <= motion.num_frames):
        raise InputError(f"frames {a}:{b} outside the motion's 0:{motion.num_frames}", where="--frames")
    timings = {}

    t = time.perf_counter()
    body = load_body()
    instance = BodyInstance.from_motion(body, motion.poses, motion.trans, motion.betas, up=motion.up)
    legend = render_passes([instance], "follow", out / "passes", size=size, frames=range(a, b),
                           renderer=renderer, progress=progress, fps=motion.fps)
    timings["passes_s"] = time.perf_counter() - t

    t = time.perf_counter()
    gen = generate(str(checkpoint), str(out / "passes"), str(out / "generated"), device=device, progress=progress)
    timings["generate_s"] = time.perf_counter() - t

    numbers = [f["index"] for f in legend["frames"]]
    strips = [_strip(out, n, size) for n in numbers]
    from neural_render.video import write_video

    write_video(out / "demo.mp4", strips, fps=motion.fps)
    _contact_sheet(out / "contact_sheet.png", strips, numbers)
    if photo:
        t = time.perf_counter()
        _animate_photo(out / "animate", motion_path or asset(DEMO_MOTION), frames, size, progress)
        timings["animate_photo_s"] = time.perf_counter() - t
    summary = {"frames": len(strips), "size": size, "renderer": renderer, "device": gen["device"],
               "checkpoint": str(checkpoint), "video": str(out / "demo.mp4"),
               "contact_sheet": str(out / "contact_sheet.png"),
               **({"animate": str(out / "animate")} if photo else {}),
               **{k: round(v, 2) for k, v in timings.items()}}
    from neural_render.fileio import write_json

    write_json(out / "demo.json", summary)
    return summary


def _animate_photo(out: Path, motion: str | Path, frames: tuple[int, int], size: int, progress: bool) -> None:
    """The shipped photo's person doing the motion (`neural-render animate`, built-in detector)."""
    from neural_render.generator.animate import AnimateOptions, animate

    animate([asset(DEMO_PHOTO)], motion, out, AnimateOptions(size=size, frames=frames, progress=progress))


def _read_rgb(path: Path) -> np.ndarray:
    from neural_render.fileio import read_image

    img = read_image(path, "unchanged", missing_ok=True)
    if img is None:
        raise RuntimeError(f"missing demo frame {path}")
    return (img >> 8).astype(np.uint8) if img.dtype == np.uint16 else img


def _strip(out: Path, number: int, size: int) -> np.ndarray:
    """One video frame: skeleton | parts (palette colours) | normals | generated person."""
    import cv2

    from neural_render.passes.spec import frame_filename, parts_colors

    name = frame_filename(number)
    tiles = []
    for p in PANELS:
        img = _read_rgb(out / "passes" / p / name)
        if p == "parts" and img.ndim == 2:
            img = parts_colors("default")[img]
        tiles.append(img)
    tiles.append(_read_rgb(out / "generated" / name))
    tiles = [cv2.resize(np.ascontiguousarray(t[..., :3]), (size, size), interpolation=cv2.INTER_AREA) for t in tiles]
    return np.concatenate(tiles, 1)


def _contact_sheet(path: Path, strips: list[np.ndarray], numbers: list[int], rows: int = 4) -> None:
    import cv2

    from neural_render.fileio import write_image

    pick = np.linspace(0, len(strips) - 1, min(rows, len(strips))).round().astype(int)
    width = strips[0].shape[1]
    header = np.full((28, width, 3), 24, np.uint8)
    tile = width // (len(PANELS) + 1)
    for i, label in enumerate(PANELS + ("generated",)):
        cv2.putText(header, label, (i * tile + 8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (235, 235, 235), 1, cv2.LINE_AA)
    body = []
    for i in pick:
        s = strips[i].copy()
        cv2.putText(s, f"frame {numbers[i]}", (8, s.shape[0] - 10), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                    (235, 235, 235), 1, cv2.LINE_AA)
        body.append(s)
    write_image(path, np.concatenate([header] + body, 0))


def register(sub) -> None:
    p = sub.add_parser("demo", help="the main job on the shipped default body, motion and checkpoint")
    p.add_argument("--out", default="demo_out", help="output folder (default demo_out)")
    p.add_argument("--frames", default=f"{DEFAULT_FRAMES[0]}:{DEFAULT_FRAMES[1]}",
                   help="motion frames A:B (default: the walking stretch)")
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--renderer", default="blender", choices=["blender", "raster"])
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--checkpoint", default=None, help="generator checkpoint (default: the shipped one)")
    p.add_argument("--motion", default=None, help="motion .npz (default: the shipped CMU walk)")
    p.add_argument("--no-photo", action="store_true", help="skip animating the shipped photo (DIR/animate/)")
    p.set_defaults(func=_run)


def _run(args) -> int:
    try:
        a, b = (int(x) for x in args.frames.split(":"))
    except ValueError:
        raise InputError(f"bad frame range '{args.frames}'", where="--frames", fix="use A:B, e.g. 132:196") from None
    from neural_render.errors import check_range
    from neural_render.fileio import exclusive_folder

    check_range(args.size, 16, 4096, "--size", "pixels")
    with exclusive_folder(args.out, "demo run"):
        summary = run_demo(args.out, (a, b), args.size, args.renderer, args.device, args.checkpoint, args.motion,
                           photo=not args.no_photo)
    print(json.dumps(summary, indent=2))
    return 0
