"""The "Neural Render" tab of the 3D viewport sidebar: Body, Motion, Passes, Generate, Dataset."""

import bpy


def _body(context):
    from neural_render.blender import addon_api

    return addon_api.active_body(context)


class _Panel:
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "Neural Render"


class NEURALRENDER_PT_body(_Panel, bpy.types.Panel):
    bl_label = "Body"
    bl_idname = "NEURALRENDER_PT_body"

    def draw(self, context):
        s = context.scene.neural_render
        col = self.layout.column()
        col.prop(s, "body_source", expand=True)
        if s.body_source == "FILE":
            col.prop(s, "body_file")
        col.prop(s, "gender")
        col.operator("neural_render.add_body", icon="ARMATURE_DATA")
        arm = _body(context)
        if arm is None:
            return
        box = col.box()
        box.label(text=arm.name, icon="OUTLINER_OB_ARMATURE")
        box.prop(arm.neural_render, "betas")
        row = box.row(align=True)
        row.prop(arm.neural_render, "height")
        row.prop(arm.neural_render, "weight")
        box.operator("neural_render.set_height_weight")


class NEURALRENDER_PT_motion(_Panel, bpy.types.Panel):
    bl_label = "Motion"
    bl_idname = "NEURALRENDER_PT_motion"

    def draw(self, context):
        s = context.scene.neural_render
        col = self.layout.column()
        col.prop(s, "motion_file")
        col.prop(s, "motion_format")
        col.prop(s, "motion_fps")
        col.prop(s, "bone_map")
        col.prop(s, "unit")
        col.prop(s, "ground")
        col.prop(s, "smooth")
        col.prop(s, "apply_shape")
        col.prop(s, "match_proportions")
        col.prop(s, "set_scene_range")
        op = col.operator("neural_render.import_motion", icon="IMPORT")
        op.filepath = s.motion_file
        col.operator("neural_render.motion_from_video", icon="FILE_MOVIE")


class NEURALRENDER_PT_passes(_Panel, bpy.types.Panel):
    bl_label = "Passes"
    bl_idname = "NEURALRENDER_PT_passes"

    def draw(self, context):
        s = context.scene.neural_render
        col = self.layout.column()
        col.prop(s, "passes")
        col.prop(s, "pass_size")
        col.prop(s, "profile")
        col.prop(s, "passes_output")
        col.label(text=f"Frames {context.scene.frame_start}-{context.scene.frame_end} (scene range)")
        if context.scene.camera is None:
            col.operator("neural_render.add_camera", icon="CAMERA_DATA")
        col.operator("neural_render.render_passes", icon="RENDER_ANIMATION")


class NEURALRENDER_PT_generate(_Panel, bpy.types.Panel):
    bl_label = "Generate"
    bl_idname = "NEURALRENDER_PT_generate"

    def draw(self, context):
        s = context.scene.neural_render
        col = self.layout.column()
        col.prop(s, "checkpoint")
        col.prop(s, "gen_device")
        col.prop(s, "gen_size")
        col.prop(s, "gen_output")
        col.prop(s, "gen_preview")
        col.operator("neural_render.generate_frames", icon="RENDER_RESULT")
        col.operator("neural_render.preview_frames", icon="IMAGE_DATA")
        box = self.layout.box()
        box.label(text="From a photo", icon="IMAGE_DATA")
        box.prop(s, "photo_file")
        box.prop(s, "photo_keypoints")
        box.label(text=f"Motion: {bpy.path.basename(s.motion_file) or '(set in the Motion panel)'}")
        box.operator("neural_render.animate_photo", icon="ARMATURE_DATA")


class NEURALRENDER_PT_dataset(_Panel, bpy.types.Panel):
    bl_label = "Dataset"
    bl_idname = "NEURALRENDER_PT_dataset"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context):
        s = context.scene.neural_render
        col = self.layout.column()
        col.prop(s, "dataset_config")
        col.prop(s, "dataset_output")
        col.prop(s, "dataset_workers")
        col.operator("neural_render.start_dataset", icon="PLAY")


CLASSES = (NEURALRENDER_PT_body, NEURALRENDER_PT_motion, NEURALRENDER_PT_passes, NEURALRENDER_PT_generate,
           NEURALRENDER_PT_dataset)


register, unregister = bpy.utils.register_classes_factory(CLASSES)
