"""Guidance passes: one spec (`spec`, `legend`), two renderers that agree (`neural_render.blender.render`
and `raster`), cameras (`camera`), skeleton drawing (`skeleton`), and the renderer-agnostic entry
`render.render_passes` / `render.iter_frame_passes`. Only numpy at import time."""
