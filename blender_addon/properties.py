"""Settings the panels show: per scene (body source, motion, passes, generate, dataset) and per body."""

import bpy

from neural_render.blender.addon_api import MOTION_FORMATS

PASS_ITEMS = [("skeleton", "Skeleton", "OpenPose BODY_25 stick figure"),
              ("parts", "Parts", "Part labels 1..24"),
              ("normal", "Normal", "Camera-space normals"),
              ("depth", "Depth", "Metric depth (EXR + PNG)"),
              ("mask", "Mask", "Person mask"),
              ("uv", "UV", "Body UV + part index")]
PROFILES = [("default", "Default", "SURREAL part labels"), ("champ", "Champ", "Champ colours, view-space normals"),
            ("hands", "Hands", "DWPose whole-body skeleton (body, feet, hands, face)")]
GENDERS = [("neutral", "Neutral", ""), ("female", "Female", ""), ("male", "Male", "")]
FORMAT_ITEMS = [(f, f.upper() if f != "auto" else "Auto", "") for f in MOTION_FORMATS]
GROUND_ITEMS = [("auto", "Auto", "Put clips without a known floor on the floor"),
                ("on", "On", "Lowest joint over the clip touches the floor"), ("off", "Off", "Keep as recorded")]
MATCH_PROPORTIONS_HELP = ("BVH/FBX: the body takes the source skeleton's bone lengths so its joints follow the "
                          "source exactly (with \"Use motion's shape\"); off keeps the body's own proportions")
NUM_SLIDERS = 10

_syncing = False  # set while the UI mirror of the shape is written, so the update does not recurse


def _shape_changed(self, context):
    if _syncing:
        return
    from neural_render.blender import rig

    arm = self.id_data
    if arm.type != "ARMATURE" or not arm.get(rig.BODY_MARK):
        return
    betas = list(rig.get_betas(arm))
    for i, v in enumerate(self.betas[: len(betas)]):
        betas[i] = v
    rig.set_shape(arm, betas)


def sync_from_body(arm) -> None:
    """Copy the body's stored shape into the sliders (after operators change it)."""
    global _syncing
    from neural_render.blender import rig

    b = list(rig.get_betas(arm))[:NUM_SLIDERS]
    _syncing = True
    try:
        arm.neural_render.betas = b + [0.0] * (NUM_SLIDERS - len(b))
    finally:
        _syncing = False


class NeuralRenderBodySettings(bpy.types.PropertyGroup):
    betas: bpy.props.FloatVectorProperty(name="Shape", size=NUM_SLIDERS, default=[0.0] * NUM_SLIDERS,
                                         soft_min=-3.0, soft_max=3.0, min=-10.0, max=10.0,
                                         update=_shape_changed, description="Shape components (betas)")
    height: bpy.props.FloatProperty(name="Height", unit="LENGTH", default=1.70, min=0.5, max=2.5)
    weight: bpy.props.FloatProperty(name="Weight (kg)", default=70.0, min=20.0, max=250.0)


class NeuralRenderSceneSettings(bpy.types.PropertyGroup):
    # Body
    body_source: bpy.props.EnumProperty(name="Model", items=[
        ("DEFAULT", "Default body", "The free default body shipped with the add-on"),
        ("FILE", "SMPL file", "Your licensed SMPL model (.pkl/.npz or a folder of them)")])
    body_file: bpy.props.StringProperty(name="SMPL file", subtype="FILE_PATH")
    gender: bpy.props.EnumProperty(name="Gender", items=GENDERS)
    # Motion
    motion_file: bpy.props.StringProperty(name="File", subtype="FILE_PATH")
    motion_format: bpy.props.EnumProperty(name="Format", items=FORMAT_ITEMS)
    motion_fps: bpy.props.FloatProperty(name="FPS", default=0.0, min=0.0, max=1000.0,
                                        description="Resample to this rate (0: the scene's frame rate)")
    bone_map: bpy.props.StringProperty(name="Bone map", default="",
                                       description="Retarget preset name or JSON file (empty: automatic)")
    unit: bpy.props.StringProperty(name="Unit", default="",
                                   description="BVH/FBX length unit (m, cm, mm, in, ...; empty: detected)")
    ground: bpy.props.EnumProperty(name="Ground", items=GROUND_ITEMS)
    smooth: bpy.props.FloatProperty(name="Smooth (s)", default=0.0, min=0.0, max=2.0,
                                    description="Savitzky-Golay window in seconds (0: off)")
    apply_shape: bpy.props.BoolProperty(name="Use motion's shape", default=True)
    match_proportions: bpy.props.BoolProperty(name="Match source proportions", default=False,
                                              description=MATCH_PROPORTIONS_HELP)
    set_scene_range: bpy.props.BoolProperty(name="Set frame range", default=True)
    # Passes
    passes: bpy.props.EnumProperty(name="Passes", items=PASS_ITEMS, options={"ENUM_FLAG"},
                                   default={"skeleton", "parts", "normal", "depth", "mask"})
    pass_size: bpy.props.IntProperty(name="Resolution", default=512, min=16, max=8192)
    profile: bpy.props.EnumProperty(name="Profile", items=PROFILES)
    passes_output: bpy.props.StringProperty(name="Output", subtype="DIR_PATH")
    # Generate
    checkpoint: bpy.props.StringProperty(name="Checkpoint", subtype="FILE_PATH")
    gen_device: bpy.props.EnumProperty(name="Device", items=[("prefs", "From preferences", ""),
                                                             ("cpu", "CPU", ""), ("cuda", "CUDA", "")])
    gen_output: bpy.props.StringProperty(name="Output", subtype="DIR_PATH")
    gen_size: bpy.props.IntProperty(name="Resolution", default=256, min=16, max=4096)
    gen_preview: bpy.props.BoolProperty(name="Preview in Image Editor", default=True)
    photo_file: bpy.props.StringProperty(name="Photo", subtype="FILE_PATH",
                                         description="From a photo: one person, whole body; animated with the Motion panel's file")
    photo_keypoints: bpy.props.StringProperty(name="Keypoints", subtype="FILE_PATH",
                                              description="Optional keypoint file of the photo (empty: the built-in detector)")
    # Dataset
    dataset_config: bpy.props.StringProperty(name="Config", subtype="FILE_PATH")
    dataset_output: bpy.props.StringProperty(name="Output", subtype="DIR_PATH")
    dataset_workers: bpy.props.IntProperty(name="Workers", default=1, min=1, max=256)


CLASSES = (NeuralRenderBodySettings, NeuralRenderSceneSettings)


def register():
    for c in CLASSES:
        bpy.utils.register_class(c)
    bpy.types.Scene.neural_render = bpy.props.PointerProperty(type=NeuralRenderSceneSettings)
    bpy.types.Object.neural_render = bpy.props.PointerProperty(type=NeuralRenderBodySettings)


def unregister():
    del bpy.types.Object.neural_render
    del bpy.types.Scene.neural_render
    for c in reversed(CLASSES):
        bpy.utils.unregister_class(c)
