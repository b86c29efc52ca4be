"""Neural Render for Blender: a thin UI over the `neural_render` package (shipped inside as a wheel).

Sidebar tab "Neural Render" in the 3D viewport: Body, Motion, Passes, Generate, Dataset.
Operators (also for scripts, headless): neural_render.add_body(), neural_render.import_motion(filepath=...),
neural_render.render_passes(output_dir=...), neural_render.generate_frames(output_dir=...).
"""

from . import operators, panels, preferences, properties

_MODULES = (preferences, properties, operators, panels)


def register():
    for m in _MODULES:
        m.register()


def unregister():
    for m in reversed(_MODULES):
        m.unregister()
