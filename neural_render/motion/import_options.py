"""How to read a motion source: one frozen dataclass, `MotionImportOptions`.

Built once per call (the CLI's `motion import` from its flags, the add-on's operator from its
properties, a script from keywords) and handed down whole: `importers.import_motion(src, options,
body=...)`, the add-on's `load_motion` / `MotionJob`, and back to command-line flags
(`cli_args()`) when the import runs as a `neural-render motion import` job. Like the keywords of
Blender's own importers (`load(context, **keywords)`), but typed and in one place.

A leaf module (no package imports), so both `neural_render.motion` and `neural_render.blender`
import it without cycles.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class MotionImportOptions:
    """Every option of `neural-render motion import` except the source, output and body.

    fmt: "auto" or one of `importers.FORMATS`; fps: resample to this rate (None keeps the
    source's); source_fps: the source's rate where the file has none (SMPL dicts; default 30) or
    to override a wrong one; bone_map: a preset name or JSON file (None: best match); unit:
    BVH/FBX length unit (None: detected); swing_fix: see `retarget.retarget`; shape (BVH/FBX):
    "source" fits the body's betas to the source skeleton's proportions, "body" keeps the body's
    own shape (betas 0); up: "z" (Blender's world) or "y"; ground: "on" puts the clip's lowest
    joint on the floor, "auto" only for sources without a known floor, "off" never; smooth:
    Savitzky-Golay window in seconds (0 = off); frames: (A, B) source frames to keep, B exclusive,
    None = to the end; video: the video(s) of keypoint input (one path or a list, one per view);
    calibration: multi-view camera calibration file; device: keypoint fitting device ("cpu",
    "cuda"); image_id: which image of a COCO annotation file of several photos.
    """

    fmt: str = "auto"
    fps: float | None = None
    source_fps: float | None = None
    bone_map: str | Path | None = None
    unit: str | None = None
    swing_fix: bool = False
    shape: str = "source"
    up: str = "z"
    ground: str = "auto"
    smooth: float = 0.0
    frames: tuple[int, int | None] | None = None
    video: str | Path | list | None = None
    calibration: str | Path | None = None
    device: str = "cpu"
    image_id: str | None = None

    def replace(self, **changes) -> MotionImportOptions:
        """A copy with `changes` (field name -> value)."""
        return dataclasses.replace(self, **changes)

    def cli_args(self) -> list[str]:
        """The same options as `neural-render motion import` flags (unset ones omitted; --shape is
        always given, since the add-on's default differs from the CLI's, and is ignored outside BVH/FBX)."""
        args = ["--format", self.fmt]
        for flag, value in (("--fps", self.fps), ("--source-fps", self.source_fps)):
            if value:
                args += [flag, f"{value:g}"]
        for flag, value in (("--bone-map", self.bone_map), ("--unit", self.unit),
                            ("--calibration", self.calibration), ("--image-id", self.image_id)):
            if value:
                args += [flag, str(value)]
        if self.swing_fix:
            args.append("--swing-fix")
        args += ["--shape", self.shape, "--up", self.up, "--ground", self.ground, "--smooth", f"{self.smooth:g}", "--device", self.device]
        if self.frames is not None:
            a, b = self.frames
            args += ["--frames", f"{int(a or 0)}:{'' if b is None else int(b)}"]
        videos = [] if self.video is None else [self.video] if isinstance(self.video, (str, Path)) else self.video
        for v in videos:
            args += ["--video", str(v)]
        return args
