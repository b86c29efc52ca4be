"""Operators: read properties, call neural_render.blender.addon_api, report. No logic of their own.

Every operator works from scripts (headless) with the same effect as from the UI: properties not
passed explicitly fall back to the scene's Neural Render settings. Errors are reported (and raise
RuntimeError in scripts). Long jobs run modal with progress and Esc to cancel when there is a
window, synchronously otherwise.
"""

import os

import bpy

from neural_render.errors import InputError

from . import preferences, properties

OPTIONS = {"REGISTER", "UNDO"}


def _api():
    from neural_render.blender import addon_api

    return addon_api


def _setting(op, name, settings, settings_name=None):
    """The operator's property when it was given, else the scene setting of the same meaning."""
    if op.properties.is_property_set(name) or settings is None:
        return getattr(op, name)
    return getattr(settings, settings_name or name)


def _out_dir(value, sub):
    return bpy.path.abspath(value) if value else os.path.join(preferences.output_root(), sub)


class _Progress:
    """window_manager.progress_* around a job, when there is a window manager."""

    def __init__(self, context):
        self.wm = context.window_manager if context.window is not None else None

    def __enter__(self):
        if self.wm:
            self.wm.progress_begin(0, 1000)
        return self

    def __call__(self, fraction, message=""):
        if self.wm:
            self.wm.progress_update(int(1000 * max(0.0, min(1.0, fraction))))

    def __exit__(self, *exc):
        if self.wm:
            self.wm.progress_end()
        return False


class _ModalJob:
    """Modal part shared by long operators: poll a heavy.HeavyJob on a timer, show progress, Esc cancels."""

    _job = None
    _timer = None
    _what = "Working"

    def _start_modal(self, context, job):
        self._job = job
        wm = context.window_manager
        wm.progress_begin(0, 1000)
        self._timer = wm.event_timer_add(0.25, window=context.window)
        wm.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context, event):
        if event.type == "ESC":
            self._job.cancel()
            self._finish(context)
            self.report({"WARNING"}, f"{self._what} cancelled")
            return {"CANCELLED"}
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        context.window_manager.progress_update(int(1000 * self._job.progress))
        if context.area:
            context.area.header_text_set(f"{self._what}: {100 * self._job.progress:.0f}%  (Esc to cancel)")
        if self._job.poll():
            return {"RUNNING_MODAL"}
        self._finish(context)
        if self._job.returncode != 0:
            self.report({"ERROR"}, f"{self._what} failed: {self._job.error_text()}")
            return {"CANCELLED"}
        self._done(context)
        return {"FINISHED"}

    def _finish(self, context):
        wm = context.window_manager
        if self._timer:
            wm.event_timer_remove(self._timer)
            self._timer = None
        wm.progress_end()
        if context.area:
            context.area.header_text_set(None)

    def _done(self, context):
        pass


class NEURALRENDER_OT_add_body(bpy.types.Operator):
    """Add a rigged body: the free default body or your SMPL model file"""

    bl_idname = "neural_render.add_body"
    bl_label = "Add Body"
    bl_options = OPTIONS

    model_path: bpy.props.StringProperty(name="Model file", subtype="FILE_PATH", default="",
                                         description="SMPL .pkl/.npz (empty: the default body)")
    gender: bpy.props.EnumProperty(name="Gender", items=properties.GENDERS)
    name: bpy.props.StringProperty(name="Name", default="")

    def execute(self, context):
        s = context.scene.neural_render
        if self.properties.is_property_set("model_path"):
            path = self.model_path
        else:
            path = s.body_file if s.body_source == "FILE" else ""
        try:
            rig = _api().add_body(bpy.path.abspath(path) if path else None,
                                  gender=_setting(self, "gender", s), name=self.name or None,
                                  location=tuple(context.scene.cursor.location))
        except InputError as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        properties.sync_from_body(rig.armature)
        self.report({"INFO"}, f"added {rig.armature.name} ({len(rig.mesh.data.vertices)} vertices)")
        return {"FINISHED"}


class NEURALRENDER_OT_set_height_weight(bpy.types.Operator):
    """Reshape the active body to the height and weight set in the Body panel"""

    bl_idname = "neural_render.set_height_weight"
    bl_label = "Apply Height/Weight"
    bl_options = OPTIONS

    height: bpy.props.FloatProperty(name="Height (m)", default=0.0, min=0.0)
    weight: bpy.props.FloatProperty(name="Weight (kg)", default=0.0, min=0.0)

    def execute(self, context):
        arm = _api().active_body(context)
        if arm is None:
            self.report({"ERROR"}, "no body in the scene (add one first)")
            return {"CANCELLED"}
        h = self.height if self.properties.is_property_set("height") else arm.neural_render.height
        w = self.weight if self.properties.is_property_set("weight") else arm.neural_render.weight
        _api().set_height_weight(arm, h or None, w or None)
        properties.sync_from_body(arm)
        h2, w2 = _api().body_measurements(arm)
        self.report({"INFO"}, f"{arm.name}: height {h2:.3f} m, weight {w2:.1f} kg")
        return {"FINISHED"}


class _MotionImport(_ModalJob):
    """Options and steps shared by the motion-import operators (a mixin: Blender must not see two
    registered operators where one subclasses the other, or it loses the parent's Python class)."""

    filepath: bpy.props.StringProperty(name="File", subtype="FILE_PATH", default="")
    format: bpy.props.EnumProperty(name="Format", items=properties.FORMAT_ITEMS)
    fps: bpy.props.FloatProperty(name="FPS", default=0.0, min=0.0, description="0: the scene's frame rate")
    bone_map: bpy.props.StringProperty(name="Bone map", default="")
    unit: bpy.props.StringProperty(name="Unit", default="", description="BVH/FBX length unit (empty: detected)")
    ground: bpy.props.EnumProperty(name="Ground", items=properties.GROUND_ITEMS)
    smooth: bpy.props.FloatProperty(name="Smooth (s)", default=0.0, min=0.0, max=2.0)
    frame_start: bpy.props.IntProperty(name="Start frame", default=-1, description="-1: the scene's start")
    apply_shape: bpy.props.BoolProperty(name="Use motion's shape", default=True)
    match_proportions: bpy.props.BoolProperty(name="Match source proportions", default=False,
                                              description=properties.MATCH_PROPORTIONS_HELP)
    set_scene_range: bpy.props.BoolProperty(name="Set frame range", default=True)

    def invoke(self, context, event):
        if not self.filepath and not context.scene.neural_render.motion_file:
            context.window_manager.fileselect_add(self)  # execute() runs once a file is picked
            return {"RUNNING_MODAL"}
        s = context.scene.neural_render
        path = bpy.path.abspath(self.filepath or s.motion_file)
        fmt = _setting(self, "format", s, "motion_format")
        if context.window is None or not _api().needs_heavy_import(path, fmt):
            return self.execute(context)
        # Keypoint fitting takes minutes: run it as a job, keyframe when it is done (Esc cancels).
        api = _api()
        try:
            self._arm = api.active_body(context, create=True)
            options = self._options(s)
            fps = api.import_fps(context.scene, options.fps, _setting(self, "set_scene_range", s))
            self._mjob = api.MotionJob(path, options.replace(fps=fps),
                                       self._arm.get("nr_body_path", "default"), preferences.python_path(context))
        except InputError as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        self._path = path
        self._what = "Fitting keypoints"
        return self._start_modal(context, self._mjob.job)

    def _options(self, s):
        """The import settings (this call's, else the scene panel's), gathered once."""
        return _api().motion_import_options(
            fmt=_setting(self, "format", s, "motion_format"), fps=_setting(self, "fps", s, "motion_fps"),
            bone_map=_setting(self, "bone_map", s), unit=_setting(self, "unit", s),
            ground=_setting(self, "ground", s), smooth=_setting(self, "smooth", s),
            match_proportions=_setting(self, "match_proportions", s))

    def _done(self, context):
        s = context.scene.neural_render
        try:
            motion = self._mjob.finish()
        except InputError as e:
            self.report({"ERROR"}, str(e))
            return
        start = self.frame_start if self.frame_start >= 0 else None
        action = _api().apply_motion(self._arm, motion, os.path.splitext(os.path.basename(self._path.rstrip("/")))[0],
                                     start, _setting(self, "apply_shape", s), _setting(self, "set_scene_range", s))
        properties.sync_from_body(self._arm)
        self.report({"INFO"}, f"{self._arm.name}: action '{action.name}', {action['nr_frames']} frames")

    def execute(self, context):
        s = context.scene.neural_render
        path = self.filepath or s.motion_file
        if not path:
            self.report({"ERROR"}, "no motion file given (set filepath)")
            return {"CANCELLED"}
        start = self.frame_start if self.frame_start >= 0 else None
        try:
            arm = _api().active_body(context, create=True)
            with _Progress(context) as progress:
                action = _api().import_motion(
                    arm, bpy.path.abspath(path), self._options(s), frame_start=start,
                    apply_shape=_setting(self, "apply_shape", s), set_scene_range=_setting(self, "set_scene_range", s),
                    python=preferences.python_path(context), progress=progress)
        except InputError as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        properties.sync_from_body(arm)
        self.report({"INFO"}, f"{arm.name}: action '{action.name}', {action['nr_frames']} frames")
        return {"FINISHED"}


class NEURALRENDER_OT_import_motion(_MotionImport, bpy.types.Operator):
    """Import a motion (BVH/FBX/AMASS/SMPL/.smpl/keypoints) onto the active body as a new action"""

    bl_idname = "neural_render.import_motion"
    bl_label = "Import Motion"
    bl_options = OPTIONS


class NEURALRENDER_OT_motion_from_video(_MotionImport, bpy.types.Operator):
    """Detect the person in a video, folder of frames or photo and fit the body's motion to it (new action)"""

    bl_idname = "neural_render.motion_from_video"
    bl_label = "Motion from Video..."
    bl_options = OPTIONS

    filter_glob: bpy.props.StringProperty(default=_api().VIDEO_FILTER, options={"HIDDEN"})

    def invoke(self, context, event):
        self.format = "video"
        if not self.filepath:
            context.window_manager.fileselect_add(self)  # execute() runs once a file is picked
            return {"RUNNING_MODAL"}
        return super().invoke(context, event)

    def execute(self, context):
        self.format = "video"  # the job runs `neural-render motion import VIDEO --format video`
        return super().execute(context)


def _pass_settings(op, context):
    s = context.scene.neural_render
    passes = sorted(_setting(op, "passes", s))
    return passes, _setting(op, "size", s, "pass_size"), _setting(op, "profile", s)


class NEURALRENDER_OT_render_passes(_ModalJob, bpy.types.Operator):
    """Render guidance passes for the scene's frame range with the scene camera"""

    bl_idname = "neural_render.render_passes"
    bl_label = "Render Passes"
    bl_options = OPTIONS

    output_dir: bpy.props.StringProperty(name="Output", subtype="DIR_PATH", default="")
    passes: bpy.props.EnumProperty(name="Passes", items=properties.PASS_ITEMS, options={"ENUM_FLAG"},
                                   default={"skeleton", "parts", "normal", "depth", "mask"})
    size: bpy.props.IntProperty(name="Resolution", default=512, min=16, max=8192)
    profile: bpy.props.EnumProperty(name="Profile", items=properties.PROFILES)

    def _out_path(self, context):
        return _out_dir(self.output_dir or context.scene.neural_render.passes_output, "passes")

    def execute(self, context):
        passes, size, profile = _pass_settings(self, context)
        out = self._out_path(context)
        try:
            with _Progress(context) as progress:
                _api().render_passes(context.scene, out, passes, size, profile, progress=progress)
        except InputError as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        self.report({"INFO"}, f"passes written to {out}")
        return {"FINISHED"}

    def invoke(self, context, event):
        """With a window: render a saved copy in the background (progress, Esc cancels) when an
        interpreter with bpy is configured; otherwise render here, synchronously."""
        if context.window is None:
            return self.execute(context)
        passes, size, profile = _pass_settings(self, context)
        self._out = self._out_path(context)
        self._what = "Rendering passes"
        try:
            job = _api().start_passes_job(context.scene, self._out, passes, size, profile,
                                          python=preferences.python_path(context))
        except InputError:
            return self.execute(context)
        return self._start_modal(context, job)

    def _done(self, context):
        self.report({"INFO"}, f"passes written to {self._out}")


class _FramesJob(_ModalJob):
    """Options and steps shared by the operators that write frames of a person (generate_frames,
    animate_photo): where, on which device, at what size, and the Image Editor preview of the
    result (a mixin, like _MotionImport)."""

    output_dir: bpy.props.StringProperty(name="Output", subtype="DIR_PATH", default="")
    device: bpy.props.EnumProperty(name="Device", items=[("prefs", "From preferences", ""),
                                                        ("cpu", "CPU", ""), ("cuda", "CUDA", "")])
    size: bpy.props.IntProperty(name="Resolution", default=256, min=16, max=4096)
    preview: bpy.props.BoolProperty(name="Preview", default=True)

    def _device(self, context) -> str:
        """This call's device, else the panel's; "prefs" = the add-on preferences' device."""
        device = _setting(self, "device", context.scene.neural_render, "gen_device")
        return preferences.device(context) if device == "prefs" else device

    def _size(self, context) -> int:
        return _setting(self, "size", context.scene.neural_render, "gen_size")

    def _run(self, context, write_frames):
        """execute(): `write_frames(progress)` -> the frames folder, shown and reported."""
        try:
            with _Progress(context) as progress:
                frames = write_frames(progress)
        except InputError as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        self._show(context, frames)
        self.report({"INFO"}, f"frames written to {frames}")
        return {"FINISHED"}

    def _done(self, context):
        self._show(context, self._frames)
        self.report({"INFO"}, f"frames written to {self._frames}")

    def _sequence(self, context, frames: str):
        """The frames as one image sequence (each operator names and places its own)."""
        raise NotImplementedError

    def _show(self, context, frames):
        if not _setting(self, "preview", context.scene.neural_render, "gen_preview"):
            return
        try:
            _api().show_in_image_editor(context, self._sequence(context, str(frames)))
        except InputError as e:
            self.report({"WARNING"}, str(e))


class NEURALRENDER_OT_generate_frames(_FramesJob, bpy.types.Operator):
    """Render passes for the scene range, then turn them into frames of the trained person"""

    bl_idname = "neural_render.generate_frames"
    bl_label = "Generate Frames"
    bl_options = OPTIONS

    checkpoint: bpy.props.StringProperty(name="Checkpoint", subtype="FILE_PATH", default="")

    def _args(self, context):
        s = context.scene.neural_render
        out = _out_dir(self.output_dir or s.gen_output, "generated")
        ckpt = bpy.path.abspath(self.checkpoint or s.checkpoint)
        return out, ckpt, self._device(context), self._size(context)

    def execute(self, context):
        out, ckpt, device, size = self._args(context)
        return self._run(context, lambda progress: _api().generate_frames(
            context.scene, out, ckpt, device, size=size, python=preferences.python_path(context), progress=progress))

    def invoke(self, context, event):
        if context.window is None:
            return self.execute(context)
        out, ckpt, device, size = self._args(context)
        try:
            job, frames = _api().start_generate_frames(context.scene, out, ckpt, device, size=size,
                                                       python=preferences.python_path(context))
            self._frames = str(frames)
        except InputError as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        self._what = "Generating"
        return self._start_modal(context, job)

    def _sequence(self, context, frames: str):
        return _api().load_image_sequence(frames, frame_start=context.scene.frame_start)


class NEURALRENDER_OT_animate_photo(_FramesJob, bpy.types.Operator):
    """Animate the person in a photo with the Motion panel's file, seen by the photo's camera"""

    bl_idname = "neural_render.animate_photo"
    bl_label = "Animate Photo"
    bl_options = OPTIONS

    image: bpy.props.StringProperty(name="Photo", subtype="FILE_PATH", default="")
    motion: bpy.props.StringProperty(name="Motion", subtype="FILE_PATH", default="")
    keypoints: bpy.props.StringProperty(name="Keypoints", subtype="FILE_PATH", default="")

    def _args(self, context):
        s = context.scene.neural_render
        image = bpy.path.abspath(self.image or s.photo_file)
        motion = bpy.path.abspath(self.motion or s.motion_file)
        kp = bpy.path.abspath(self.keypoints or s.photo_keypoints) if (self.keypoints or s.photo_keypoints) else None
        out = _out_dir(self.output_dir or s.gen_output, "animated")
        return image, motion, kp, out, self._device(context), self._size(context)

    def execute(self, context):
        image, motion, kp, out, device, size = self._args(context)
        return self._run(context, lambda progress: _api().animate_photo(
            image, motion, out, size, device, kp, python=preferences.python_path(context), progress=progress))

    def invoke(self, context, event):
        if context.window is None:
            return self.execute(context)
        image, motion, kp, out, device, size = self._args(context)
        api = _api()
        try:
            from neural_render.blender import heavy

            api.check_animate_inputs(image, motion, out)
            self._frames = os.path.join(out, "frames")
            job = heavy.HeavyJob(api.animate_args(image, motion, out, size, device, kp),
                                 python=preferences.python_path(context)).start()
        except InputError as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        self._what = "Animating"
        return self._start_modal(context, job)

    def _sequence(self, context, frames: str):
        return _api().load_image_sequence(frames, name="neural_render_animated")

class NEURALRENDER_OT_preview_frames(bpy.types.Operator):
    """Load a folder of frames as an image sequence and show it in an Image Editor"""

    bl_idname = "neural_render.preview_frames"
    bl_label = "Preview Frames"
    bl_options = OPTIONS

    directory: bpy.props.StringProperty(name="Folder", subtype="DIR_PATH", default="")

    def execute(self, context):
        folder = self.directory or os.path.join(
            _out_dir(context.scene.neural_render.gen_output, "generated"), "frames")
        try:
            img = _api().load_image_sequence(bpy.path.abspath(folder), frame_start=context.scene.frame_start)
        except InputError as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        if not _api().show_in_image_editor(context, img):
            self.report({"INFO"}, f"loaded '{img.name}'; open an Image Editor to play it")
        return {"FINISHED"}


class NEURALRENDER_OT_add_camera(bpy.types.Operator):
    """Add a camera in front of the active body and make it the scene camera"""

    bl_idname = "neural_render.add_camera"
    bl_label = "Add Camera"
    bl_options = OPTIONS

    def execute(self, context):
        s = context.scene.neural_render
        _api().add_camera_for_body(context.scene, _api().active_body(context), size=s.pass_size)
        return {"FINISHED"}


class NEURALRENDER_OT_start_dataset(bpy.types.Operator):
    """Start rendering a synthetic dataset headless (neural-render batch) in the background"""

    bl_idname = "neural_render.start_dataset"
    bl_label = "Start Dataset Batch"
    bl_options = {"REGISTER"}

    config: bpy.props.StringProperty(name="Config", subtype="FILE_PATH", default="")
    output_dir: bpy.props.StringProperty(name="Output", subtype="DIR_PATH", default="")
    workers: bpy.props.IntProperty(name="Workers", default=1, min=1)

    def execute(self, context):
        s = context.scene.neural_render
        out = _out_dir(self.output_dir or s.dataset_output, "dataset")
        try:
            proc = _api().start_dataset(bpy.path.abspath(self.config or s.dataset_config), out,
                                        _setting(self, "workers", s, "dataset_workers"),
                                        python=preferences.python_path(context) or None)
        except InputError as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        self.report({"INFO"}, f"batch started (pid {proc.pid}); log: {_api().batch_log_path(out)}")
        return {"FINISHED"}


CLASSES = (NEURALRENDER_OT_add_body, NEURALRENDER_OT_set_height_weight, NEURALRENDER_OT_import_motion,
           NEURALRENDER_OT_motion_from_video,
           NEURALRENDER_OT_render_passes, NEURALRENDER_OT_generate_frames, NEURALRENDER_OT_animate_photo, NEURALRENDER_OT_preview_frames,
           NEURALRENDER_OT_add_camera, NEURALRENDER_OT_start_dataset)


register, unregister = bpy.utils.register_classes_factory(CLASSES)
