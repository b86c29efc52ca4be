"""bpy-side code shared by the add-on and headless runs.

`scene`: body mesh objects (part labels as a face attribute), camera, one-sample Cycles pass
settings applied temporarily; `render`: the headless pass renderer (`BlenderRenderer`) and
`render_scene_passes(scene, body_objects, out_dir, ...)` for the add-on.
Only numpy at import time; bpy is imported inside functions.
"""
