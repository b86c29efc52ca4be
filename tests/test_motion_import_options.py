"""Motion import options: one dataclass from the CLI's flags, the add-on's settings or keywords,
and back to the CLI's flags unchanged (the add-on's heavy imports run `neural-render motion import`)."""

import pytest

from neural_render.cli import build_parser
from neural_render.motion.cli import import_options
from neural_render.motion.import_options import MotionImportOptions


def _parse(flags: list[str]):
    return build_parser().parse_args(["motion", "import", "clip.bvh", "--out", "m.npz", *flags])


def test_cli_defaults_are_the_dataclass_defaults():
    assert import_options(_parse([])) == MotionImportOptions()


@pytest.mark.parametrize("opts", [
    MotionImportOptions(),
    MotionImportOptions(fmt="bvh", fps=29.97, source_fps=120, bone_map="cmu", unit="cm", swing_fix=True,
                        shape="body", up="y", ground="on", smooth=0.25, frames=(3, None), device="cuda"),
    MotionImportOptions(fmt="openpose", frames=(0, 40), video=["a.mp4", "b.mp4"], calibration="calib.toml",
                        image_id="17", ground="off"),
    MotionImportOptions(fmt="coco", video="one.mp4", frames=(5, 9)),
])
def test_cli_args_round_trip_through_the_cli_parser(opts):
    back = import_options(_parse(opts.cli_args()))
    assert back == opts


def test_import_motion_takes_options_or_keywords_not_a_positional_format(tmp_path):
    from neural_render.motion.importers import import_motion

    with pytest.raises(TypeError, match="fmt="):
        import_motion(tmp_path / "x.json", "mediapipe")
    with pytest.raises(TypeError, match="either options or keywords"):
        import_motion(tmp_path / "x.json", MotionImportOptions(), fps=30)
    with pytest.raises(TypeError):
        import_motion(tmp_path / "x.json", fsp=30)  # a misspelt option is not silently dropped


def test_addon_options_keep_the_body_shape_unless_asked():
    from neural_render.blender.addon_api import motion_import_options

    assert motion_import_options().shape == "body"
    assert motion_import_options(match_proportions=True).shape == "source"
    assert motion_import_options(shape="source").shape == "source"
    o = motion_import_options(fmt="bvh", fps=0.0, bone_map="", unit="", smooth=0.5)
    assert (o.fps, o.bone_map, o.unit, o.smooth) == (None, None, None, 0.5)
    assert o.replace(fps=24.0).fps == 24.0 and o.fps is None  # frozen: replace makes a copy
