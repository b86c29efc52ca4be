"""The README's first two commands, as written, in a fresh clone (slow: a full set-up and the demo)."""

import re
import subprocess
from pathlib import Path

import pytest

from conftest import ROOT


def readme_commands() -> list[str]:
    """The bash blocks of the README's first section ("Start here"), in order."""
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## ", 2)[1]
    return re.findall(r"```bash\n(.*?)\n```", section, re.S)


def test_readme_starts_with_setup_demo_and_tests():
    demo, tests = readme_commands()[:2]
    assert demo.startswith("bash scripts/setup.sh") and "neural-render demo" in demo
    assert tests.startswith("bash scripts/setup.sh") and "pytest" in tests
    ci = (ROOT / ".ci" / "run").read_text()
    assert tests in ci, ".ci/run must run the README's test command"


@pytest.mark.slow
def test_fresh_clone_setup_and_demo(tmp_path):
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    demo = readme_commands()[0]
    r = subprocess.run(["bash", "-c", demo], cwd=clone, capture_output=True, text=True, timeout=3600)
    assert r.returncode == 0, r.stderr[-3000:]
    out = clone / re.search(r"--out (\S+)", demo).group(1)
    assert (out / "demo.mp4").stat().st_size > 10_000
    assert (out / "contact_sheet.png").is_file()
    import imageio_ffmpeg

    assert imageio_ffmpeg.count_frames_and_secs(str(out / "demo.mp4"))[0] >= 48
