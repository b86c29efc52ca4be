"""What the add-on's operators do, as plain functions (the add-on only reads properties and calls these).

Everything here also works headless with the bpy module, so scripts get the same effect as the UI:
  add_body(model_path, gender, name, betas)            -> RiggedBody (armature + skinned mesh)
  import_motion(armature, filepath, options)            -> the new Action (one per import)
  render_passes(scene, out_dir, passes, size, profile)  -> legend dict (the scene's frame range + camera)
  generate_frames(scene, out_dir, checkpoint, ...)      -> folder of generated frames (torch via heavy.py)
  animate_photo(image, motion, out_dir, ...)            -> frames of the photo's person doing the motion
  start_dataset(config, out_dir, workers, python)       -> the running `neural-render batch` process
  load_image_sequence(folder)                           -> a bpy image (SEQUENCE) for the Image Editor
  set_height_weight(armature, height_m, weight_kg)      -> betas matching the measurements
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from neural_render.blender import rig
from neural_render.errors import InputError
from neural_render.motion.import_options import MotionImportOptions
from neural_render.motion.importers import FORMATS

MOTION_FORMATS = FORMATS  # the add-on's format menu: every format `motion import` reads
# Fitted in torch (and "video" first detected with mediapipe, which Blender's Python never gets):
# always a heavy job through `neural-render motion import`.
KEYPOINT_FORMATS = ("openpose", "coco", "mediapipe", "tfjs", "video")
VIDEO_FILTER = "*.mp4;*.mov;*.avi;*.mkv;*.webm;*.m4v;*.png;*.jpg;*.jpeg"  # "Motion from Video..." file browser
BODY_DENSITY = 985.0  # kg/m^3, average human body density (for weight from mesh volume)


# ------------------------------------------------------------------------------------- body

def add_body(model_path: str | None = None, gender: str = "neutral", name: str | None = None,
             betas=None, location=(0.0, 0.0, 0.0), select: bool = True) -> rig.RiggedBody:
    """Load a body model (None/"" = the free default body) and build it in the current scene."""
    import bpy

    from neural_render.body import load_body

    body = load_body(model_path or None, gender=gender)
    name = name or ("SMPL" if model_path else "Body")
    r = rig.build_body(body, name=name, betas=betas, location=location)
    if select:
        for o in bpy.context.view_layer.objects:
            o.select_set(False)
        r.armature.select_set(True)
        bpy.context.view_layer.objects.active = r.armature
    return r


def body_armatures(scene) -> list:
    """The neural_render body armatures in `scene`, in name order."""
    return sorted((o for o in scene.objects if o.type == "ARMATURE" and o.get(rig.BODY_MARK)),
                  key=lambda o: o.name)


def active_body(context, create: bool = False):
    """The body armature of the active object, else the scene's only/first body, else None (or a new one)."""
    arm = rig.find_armature(getattr(context, "active_object", None))
    if arm is None:
        bodies = body_armatures(context.scene)
        arm = bodies[0] if bodies else None
    if arm is None and create:
        arm = add_body().armature
    return arm


def body_mesh_objects(scene) -> list:
    return [rig.find_mesh(a) for a in body_armatures(scene)]


def set_shape(arm_obj, betas) -> None:
    rig.set_shape(arm_obj, betas)


def shape_space(arm_obj) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rest template (V, 3), shape directions (B, V, 3) (world, Z-up) and faces (F, 3), from the mesh."""
    me = rig.find_mesh(arm_obj).data
    blocks = me.shape_keys.key_blocks
    V = len(me.vertices)

    def co(block):
        a = np.empty(V * 3, np.float32)
        block.data.foreach_get("co", a)
        return a.reshape(V, 3).astype(np.float64)

    base = co(blocks["Basis"])
    B = int(arm_obj["nr_num_betas"])
    dirs = np.stack([co(blocks[f"{rig.SHAPE_KEY_PREFIX}{k:03d}"]) - base for k in range(B)]) if B else np.zeros((0, V, 3))
    faces = np.array([tuple(p.vertices) for p in me.polygons if len(p.vertices) == 3], np.int64)
    return base, dirs, faces


def measurements(template: np.ndarray, dirs: np.ndarray, faces: np.ndarray, betas) -> tuple[float, float]:
    """(height m, weight kg) of the rest body with `betas`: Z extent, and volume x BODY_DENSITY."""
    b = np.zeros(dirs.shape[0])
    src = np.asarray(betas, np.float64).ravel()[: dirs.shape[0]]
    b[: src.size] = src
    v = template + np.einsum("b,bvc->vc", b, dirs)
    height = float(v[:, 2].max() - v[:, 2].min())
    a, bb, c = v[faces[:, 0]], v[faces[:, 1]], v[faces[:, 2]]
    volume = abs(float(np.einsum("ij,ij->i", a, np.cross(bb, c)).sum()) / 6.0)
    return height, volume * BODY_DENSITY


def betas_for_measurements(template, dirs, faces, betas0, height: float | None = None,
                           weight: float | None = None, iterations: int = 30) -> np.ndarray:
    """Smallest change of `betas0` whose body has the given height (m) and/or weight (kg).

    Damped Gauss-Newton on the 1-2 constraints with a minimum-norm step (the null space keeps the
    rest of the shape), numeric Jacobian. Targets far outside the shape space stop at the boundary
    of SHAPE_SLIDER_RANGE.
    """
    b = np.zeros(dirs.shape[0])
    src = np.asarray(betas0, np.float64).ravel()[: dirs.shape[0]]
    b[: src.size] = src
    targets = [(0, height), (1, weight)]
    targets = [(i, t) for i, t in targets if t is not None and t > 0]
    if not targets or dirs.shape[0] == 0:
        return b
    scale = np.array([1.0, 50.0])  # 1 m of height ~ 50 kg of weight in the residual's units

    def f(x):
        m = np.array(measurements(template, dirs, faces, x))
        return np.array([(m[i] - t) / scale[i] for i, t in targets])

    eps = 1e-3
    for _ in range(iterations):
        r = f(b)
        if np.max(np.abs(r)) < 1e-5:
            break
        J = np.stack([(f(b + eps * np.eye(len(b))[k]) - r) / eps for k in range(len(b))], axis=1)
        step = -J.T @ np.linalg.solve(J @ J.T + 1e-6 * np.eye(len(r)), r)
        b = np.clip(b + step, -rig.SHAPE_SLIDER_RANGE, rig.SHAPE_SLIDER_RANGE)
    return b


def set_height_weight(arm_obj, height: float | None = None, weight: float | None = None) -> np.ndarray:
    """Reshape the body to a height (m) and/or weight (kg); returns the new betas."""
    template, dirs, faces = shape_space(arm_obj)
    b = betas_for_measurements(template, dirs, faces, rig.get_betas(arm_obj), height, weight)
    rig.set_shape(arm_obj, b)
    return b


def body_measurements(arm_obj) -> tuple[float, float]:
    template, dirs, faces = shape_space(arm_obj)
    return measurements(template, dirs, faces, rig.get_betas(arm_obj))


# ------------------------------------------------------------------------------------- motion

def motion_import_options(match_proportions: bool = False, **keywords) -> MotionImportOptions:
    """The add-on's motion import settings as one `MotionImportOptions`, built once per operator
    run (or from a script's keywords) and then handed down whole (load_motion -> MotionJob or the
    importer), like the keywords of Blender's own importers.

    keywords: MotionImportOptions fields (an empty string or 0 for fps / bone_map / unit means
    "not set", as the add-on's properties give them). The add-on differs from `motion import` in
    one default: match_proportions (BVH/FBX) on fits the motion's betas to the source skeleton's
    bone lengths (shape "source") so the body's joints follow the source exactly; off (the
    default) keeps the body's own proportions (shape "body"), which keeps its mesh as built (a CMU
    skeleton's short torso would otherwise crease the waist). An explicit `shape` wins.
    """
    for name in ("fps", "bone_map", "unit"):
        if name in keywords:
            keywords[name] = keywords[name] or None
    keywords.setdefault("shape", "source" if match_proportions else "body")
    return MotionImportOptions(**keywords)


def load_motion(filepath: str, options: MotionImportOptions | None = None, body_path: str | None = None,
                python: str | None = None, progress=None, **keywords):
    """Read any supported motion source into a `Motion` (options: see `motion_import_options`,
    whose keywords build them when none are given).

    Formats that need torch (keypoint fitting) run `neural-render motion import` as a heavy.py
    job: in a thread when this Python imports torch, else in the configured interpreter. A video,
    folder of frames or photo (fmt "video", or "auto" on such a path) is detected with the
    built-in detector first, in that job.
    """
    from neural_render.motion import importers

    options = options or motion_import_options(**keywords)
    path = Path(filepath)
    if not path.exists():
        raise InputError("motion file not found", path=path, fix="pick an existing BVH/FBX/npz/pkl/.smpl/keypoint file")
    kind = importers.detect_format(path) if options.fmt == "auto" else options.fmt
    if kind in KEYPOINT_FORMATS:  # minutes of torch fitting: a heavy job (thread or subprocess)
        return _motion_via_cli(path, options.replace(fmt=kind), body_path, python, progress)
    motion, _report = importers.import_motion(path, options.replace(fmt=kind), body=body_path or None)
    return motion


def _motion_via_cli(path, options: MotionImportOptions, body_path, python, progress):
    import time

    job = MotionJob(path, options, body_path, python)
    last = None
    while job.job.poll():
        time.sleep(0.1)
        if progress and job.job.progress != last:
            last = job.job.progress
            progress(last, job.job.message)
    job.job.wait()
    if progress:
        progress(job.job.progress, job.job.message)
    return job.finish()


class MotionJob:
    """`neural-render motion import` of a torch-needing source (keypoint fitting) as a heavy job:
    in a worker thread when this Python has torch, else in the configured interpreter. Poll
    `.job` (a heavy.HeavyJob) from a modal operator; `finish()` returns the Motion."""

    def __init__(self, path, options: MotionImportOptions, body_path=None, python=None):
        from neural_render.blender import heavy

        self.path = Path(path)
        self._tmp = tempfile.mkdtemp(prefix="nr_motion_")
        self.out = Path(self._tmp) / "motion.npz"
        args = ["motion", "import", str(path), "--out", str(self.out), "--no-preview", *options.cli_args()]
        if body_path and body_path != "default":
            args += ["--body", body_path]
        try:
            self.job = heavy.HeavyJob(args, python=python, needs_torch=True).start()
        except BaseException:
            self._cleanup()
            raise

    def finish(self):
        from neural_render.motion import Motion

        try:
            if self.job.returncode != 0 or not self.out.exists():
                raise InputError(f"motion import failed: {self.job.error_text()}", path=self.path)
            return Motion.load(self.out)
        finally:
            self._cleanup()

    def cancel(self) -> None:
        self.job.cancel()
        self._cleanup()

    def _cleanup(self) -> None:
        import shutil

        shutil.rmtree(self._tmp, ignore_errors=True)


def needs_heavy_import(filepath: str, fmt: str = "auto") -> bool:
    """Whether importing this source needs torch (keypoint fitting)."""
    from neural_render.motion import importers

    path = Path(filepath)
    if not path.exists():
        return False
    return (importers.detect_format(path) if fmt == "auto" else fmt) in KEYPOINT_FORMATS


def import_fps(scene, fps: float | None, set_scene_range: bool = True) -> float:
    """The rate to import at: the scene's when fps is None/0; an explicit rate becomes the scene's
    (when set_scene_range) so the clip plays in real time."""
    if fps is None or fps <= 0:
        return scene.render.fps / scene.render.fps_base
    if set_scene_range:
        scene.render.fps = max(1, int(round(fps)))
        scene.render.fps_base = scene.render.fps / fps
    return float(fps)


def apply_motion(arm_obj, motion, name: str, frame_start: int | None = None, apply_shape: bool = True,
                 set_scene_range: bool = True):
    """Keyframe a loaded Motion onto the body as a new Action named `name` (from the scene start).

    When the body keeps its own shape (apply_shape off, or a motion without a shape) and that shape
    is not the motion's, the motion is first put on the body's shape (`retarget.motion_on_shape`:
    same rotations, root path scaled by leg length), so the feet stay on the floor.
    """
    import bpy

    if not takes_motion_shape(motion, apply_shape):
        motion = motion_on_body_shape(arm_obj, motion)
    start = bpy.context.scene.frame_start if frame_start is None else int(frame_start)
    return rig.keyframe_motion(arm_obj, motion, frame_start=start, name=name, apply_shape=apply_shape,
                               set_scene_range=set_scene_range)


def takes_motion_shape(motion, apply_shape: bool) -> bool:
    """Whether keyframing sets the body's shape to the motion's (rig.keyframe_motion's rule)."""
    betas = getattr(motion, "betas", None)
    return bool(apply_shape and betas is not None and np.any(np.asarray(betas) != 0))


class _RigRestJoints:
    """A body in the scene as the rest-joint model `retarget.motion_on_shape` needs (its stored
    joint basis: model space, Y-up, metres), so no model file is read again."""

    def __init__(self, arm_obj):
        self.J_t, self.J_dirs = rig.joint_arrays(arm_obj)
        self.num_betas = int(self.J_dirs.shape[-1])

    def rest_joints(self, betas) -> np.ndarray:
        return rig.joints_for_betas(self.J_t, self.J_dirs, betas)


def motion_on_body_shape(arm_obj, motion):
    """The motion on the body's current shape (unchanged when the rest joints already agree)."""
    from neural_render.motion.retarget import motion_on_shape

    return motion_on_shape(motion, _RigRestJoints(arm_obj), rig.get_betas(arm_obj))


def import_motion(arm_obj, filepath: str, options: MotionImportOptions | None = None, frame_start: int | None = None,
                  apply_shape: bool = True, set_scene_range: bool = True, python: str | None = None, progress=None,
                  **keywords):
    """Import a motion file onto a body as a new Action (options, or keywords building them, as in
    `motion_import_options`); fps None = the scene's fps.

    match_proportions (BVH/FBX): the body takes the source skeleton's bone lengths (with
    apply_shape) so its joints follow the source exactly; off keeps the body's own proportions.
    """
    import bpy

    options = options or motion_import_options(**keywords)
    fps = import_fps(bpy.context.scene, options.fps, set_scene_range)
    body_path = arm_obj.get("nr_body_path", "default")
    motion = load_motion(filepath, options.replace(fps=fps), body_path, python, progress)
    return apply_motion(arm_obj, motion, Path(filepath).stem, frame_start, apply_shape, set_scene_range)


# ------------------------------------------------------------------------------------- passes

def render_passes(scene, out_dir: str, passes=None, size: int = 512, profile: str = "default",
                  body_objects=None, progress=None) -> dict:
    """Render guidance passes of the scene's frame range with its camera (passes engineer's renderer)."""
    from neural_render.blender import render as blender_render

    if scene.camera is None:
        raise InputError("the scene has no camera", where=scene.name, fix="add a camera and make it the scene camera")
    bodies = body_objects if body_objects is not None else body_mesh_objects(scene)
    if not bodies:
        raise InputError("no neural_render body in the scene", where=scene.name, fix="add a body first (neural_render.add_body)")
    body = None
    models = {(a.get("nr_body_path", "default"), a.get("nr_gender", "neutral")) for a in body_armatures(scene)}
    if len(models) == 1:  # the model the bodies were built from: its keypoint regressor draws the skeleton
        from neural_render.body import load_body

        path, gender = models.pop()
        body = load_body(None if path == "default" else path, gender=gender)
    # The renderer reports progress with tqdm (stderr); a callback gets the start and the end.
    if callable(progress):
        progress(0.0, "rendering passes")
    legend = blender_render.render_scene_passes(scene, bodies, str(out_dir), passes=list(passes) if passes else None,
                                                size=int(size) if size else None, profile=profile, body=body,
                                                progress=bool(progress))
    if callable(progress):
        progress(1.0, "passes written")
    return legend


def start_passes_job(scene, out_dir: str, passes=None, size: int = 512, profile: str = "default",
                     python: str | None = None):
    """Render the passes in the background: a saved copy of the current file rendered by
    `neural-render addon render-passes` in an interpreter with the bpy module, so a modal operator
    can show progress and cancel. Returns the started `heavy.HeavyJob`; InputError when no such
    interpreter is configured (callers then render in-process instead)."""
    import bpy

    from neural_render.blender import heavy

    if scene.camera is None:
        raise InputError("the scene has no camera", where=scene.name, fix="add a camera and make it the scene camera")
    if not body_mesh_objects(scene):
        raise InputError("no neural_render body in the scene", where=scene.name, fix="add a body first (neural_render.add_body)")
    job_plan = heavy.plan(python, needs_bpy_subprocess=True)  # fail before saving anything
    fd, blend = tempfile.mkstemp(prefix="nr_passes_", suffix=".blend")
    os.close(fd)
    bpy.ops.wm.save_as_mainfile(filepath=blend, copy=True, check_existing=False)
    args = ["addon", "render-passes", "--blend", blend, "--scene", scene.name, "--out", str(out_dir),
            "--profile", profile, "--delete-blend"]
    if size:
        args += ["--size", str(int(size))]
    if passes:
        args += ["--passes", ",".join(passes)]
    return heavy.HeavyJob(args, python=job_plan.python, needs_bpy_subprocess=True).start()


def add_camera_for_body(scene, arm_obj=None, size: int = 512, distance: float = 4.0):
    """A scene camera looking at the body from its front (-y), framing a standing person."""
    import bpy

    cam_data = bpy.data.cameras.new("NeuralRenderCamera")
    cam_data.lens = 50.0
    cam = bpy.data.objects.new("NeuralRenderCamera", cam_data)
    scene.collection.objects.link(cam)
    target = np.array([0.0, 0.0, 1.0])
    if arm_obj is not None:
        target = rig.posed_joints(arm_obj)[0] + np.array([0.0, 0.0, 0.1])
    cam.location = (float(target[0]), float(target[1] - distance), float(target[2]))
    cam.rotation_euler = (np.pi / 2, 0.0, 0.0)
    scene.camera = cam
    scene.render.resolution_x = scene.render.resolution_y = int(size)
    return cam


# ------------------------------------------------------------------------------------- generator

def generate_args(passes_dir: str, checkpoint: str, out_dir: str, device: str = "cpu", video: str | None = None) -> list[str]:
    args = ["generate", "--checkpoint", str(checkpoint), "--passes", str(passes_dir), "--out", str(out_dir)]
    if device and device != "auto":
        args += ["--device", device]
    if video:
        args += ["--video", str(video)]
    return args


def check_generate_inputs(checkpoint: str, out_dir: str) -> None:
    if not checkpoint or not Path(checkpoint).exists():
        raise InputError("checkpoint not found", path=checkpoint or "<empty>",
                         fix="train one with `neural-render train` and pick its checkpoint file")
    if not out_dir:
        raise InputError("no output folder given", fix="set the Generate panel's output folder")


def generate_frames(scene, out_dir: str, checkpoint: str, device: str = "cpu", passes=None, size: int = 256,
                    profile: str = "default", python: str | None = None, progress=None) -> Path:
    """Render passes of the scene range into out_dir/passes, then generator frames into out_dir/frames."""
    from neural_render.blender import heavy

    job, frames = start_generate_frames(scene, out_dir, checkpoint, device, passes, size, profile, python)
    heavy.follow(job, progress)
    if job.returncode != 0:
        raise InputError(f"generator failed: {job.error_text()}", path=checkpoint)
    return frames


def start_generate_frames(scene, out_dir: str, checkpoint: str, device: str = "cpu", passes=None, size: int = 256,
                          profile: str = "default", python: str | None = None):
    """Check the inputs, render passes of the scene range into out_dir/passes and start the
    generator on them as a heavy job (a modal operator polls it; Esc cancels).

    Returns (the started heavy.HeavyJob, the folder its frames go to: out_dir/frames)."""
    from neural_render.blender import heavy

    check_generate_inputs(checkpoint, out_dir)
    out = Path(out_dir)
    render_passes(scene, str(out / "passes"), passes, size, profile)
    job = heavy.HeavyJob(generate_args(str(out / "passes"), checkpoint, str(out / "frames"), device),
                         python=python, needs_torch=True).start()
    return job, out / "frames"


def animate_args(image: str, motion: str, out_dir: str, size: int = 256, device: str = "cpu",
                 keypoints: str | None = None, checkpoint: str | None = None) -> list[str]:
    """`neural-render animate` arguments for the Generate panel's "From a photo"."""
    args = ["animate", "--image", str(image), "--motion", str(motion), "--out", str(out_dir), "--size", str(int(size))]
    if keypoints:
        args += ["--keypoints", str(keypoints)]
    if checkpoint:
        args += ["--checkpoint", str(checkpoint)]
    if device and device != "auto":
        args += ["--device", device]
    return args


def check_animate_inputs(image: str, motion: str, out_dir: str) -> None:
    if not image or not Path(image).is_file():
        raise InputError("photo not found", path=image or "<empty>", fix="pick a photo of one person, whole body")
    if not motion or not Path(motion).exists():
        raise InputError("motion not found", path=motion or "<empty>",
                         fix="set the Motion panel's file (BVH, FBX, motion .npz, ...)")
    if not out_dir:
        raise InputError("no output folder given", fix="set the Generate panel's output folder")


def animate_photo(image: str, motion: str, out_dir: str, size: int = 256, device: str = "cpu",
                  keypoints: str | None = None, python: str | None = None, progress=None) -> Path:
    """Animate the person in `image` with `motion` (the `animate` command, through the job runner);
    returns the frames folder."""
    from neural_render.blender import heavy

    check_animate_inputs(image, motion, out_dir)
    job = heavy.run(animate_args(image, motion, out_dir, size, device, keypoints), python=python,
                    needs_torch=True, progress=progress)
    if job.returncode != 0:
        raise InputError(f"animate failed: {job.error_text()}", path=image)
    return Path(out_dir) / "frames"


def load_image_sequence(folder: str, name: str = "neural_render_frames", frame_start: int = 1):
    """Load a folder of frame-numbered PNGs as one SEQUENCE image (for an Image Editor preview)."""
    import bpy

    files = sorted(Path(folder).glob("*.png"))
    if not files:
        raise InputError("no PNG frames in folder", path=folder)
    img = bpy.data.images.get(name)
    if img is not None:
        bpy.data.images.remove(img)
    img = bpy.data.images.load(str(files[0]), check_existing=False)
    img.name = name
    img.source = "SEQUENCE"
    img["nr_frames"] = len(files)
    img["nr_frame_start"] = int(frame_start)
    return img


def show_in_image_editor(context, img) -> bool:
    """Show `img` in an Image Editor of the current screen (turning a 3D view into one if needed)."""
    screen = getattr(getattr(context, "window", None), "screen", None)
    if screen is None:
        return False
    areas = [a for a in screen.areas if a.type == "IMAGE_EDITOR"]
    if not areas:
        return False
    space = areas[0].spaces.active
    space.image = img
    space.image_user.frame_duration = int(img.get("nr_frames", 1))
    space.image_user.frame_start = int(img.get("nr_frame_start", 1))
    space.image_user.use_auto_refresh = True
    return True


# ------------------------------------------------------------------------------------- dataset

def batch_log_path(out_dir) -> Path:
    out = Path(out_dir)
    return out.with_name(out.name + ".batch.log")


def start_dataset(config: str, out_dir: str, workers: int = 1, python: str | None = None) -> subprocess.Popen:
    """Start `neural-render batch` headless as a detached subprocess; returns the process.

    Its output goes to `<out_dir>.batch.log` beside the folder. The batch is resumable, so
    re-starting continues it.
    """
    if not config or not Path(config).is_file():
        raise InputError("batch config not found", path=config or "<empty>",
                         fix="write one with `neural-render batch --print-example > cfg.yaml`")
    if not out_dir:
        raise InputError("no output folder given", fix="set the Dataset panel's output folder")
    from neural_render.blender import heavy

    interpreter = python or os.environ.get("NEURAL_RENDER_PYTHON") or sys.executable
    # The batch renders with the bpy module: Blender's own bundled Python cannot run it.
    heavy.probe_interpreter(interpreter, modules=("bpy", "yaml"))
    out = Path(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    log = open(batch_log_path(out), "ab")  # beside DIR: the batch wants DIR new, empty or its own
    cmd = [interpreter, "-u", "-m", "neural_render", "batch", "--config", str(config), "--out", str(out),
           "--workers", str(int(workers))]
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=heavy._child_env(),
                            start_new_session=True)
