"""Add-on preferences: the Python interpreter for torch work, the default output folder, the device."""

import bpy

DEVICES = [("auto", "Auto", "CUDA when available, else CPU"), ("cpu", "CPU", ""), ("cuda", "CUDA", "")]


class NeuralRenderPreferences(bpy.types.AddonPreferences):
    bl_idname = __package__

    python_path: bpy.props.StringProperty(
        name="Python with torch", subtype="FILE_PATH", default="",
        description="Python 3.11 interpreter that can import torch (e.g. the project's .venv/bin/python); "
                    "used for the generator and keypoint fitting when Blender's own Python has no torch, "
                    "and for dataset batches")
    output_dir: bpy.props.StringProperty(
        name="Default output folder", subtype="DIR_PATH", default="",
        description="Where passes, frames and datasets go when a panel's output is empty "
                    "(empty: <blend file folder>/neural_render, or the temporary folder for unsaved files)")
    device: bpy.props.EnumProperty(name="Device", items=DEVICES, default="auto")

    def draw(self, context):
        col = self.layout.column()
        col.prop(self, "python_path")
        col.prop(self, "output_dir")
        col.prop(self, "device")


def get(context=None):
    """This add-on's preferences, or None when it runs without being registered as an add-on."""
    context = context or bpy.context
    addon = context.preferences.addons.get(__package__)
    return addon.preferences if addon else None


def python_path(context=None) -> str:
    p = get(context)
    return bpy.path.abspath(p.python_path) if p and p.python_path else ""


def device(context=None) -> str:
    p = get(context)
    return p.device if p else "auto"


def output_root(context=None) -> str:
    """The default output folder (absolute)."""
    import os
    import tempfile

    p = get(context)
    if p and p.output_dir:
        return bpy.path.abspath(p.output_dir)
    if bpy.data.filepath:
        return os.path.join(os.path.dirname(bpy.data.filepath), "neural_render")
    return os.path.join(tempfile.gettempdir(), "neural_render")


def register():
    bpy.utils.register_class(NeuralRenderPreferences)


def unregister():
    bpy.utils.unregister_class(NeuralRenderPreferences)
