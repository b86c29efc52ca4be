"""Where shipped files live: the repository's smpl_assets/, or a copy bundled inside the wheel."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def assets_dir() -> Path:
    """The smpl_assets folder: $NEURAL_RENDER_ASSETS, the source checkout's, or the wheel's copy."""
    env = os.environ.get("NEURAL_RENDER_ASSETS")
    candidates = [Path(env)] if env else []
    candidates += [PACKAGE_DIR.parent / "smpl_assets", PACKAGE_DIR / "_assets"]
    for c in candidates:
        if c.is_dir():
            return c
    raise FileNotFoundError(
        "smpl_assets not found; set NEURAL_RENDER_ASSETS to the folder that holds default_body.npz")


def asset(*parts: str) -> Path:
    return assets_dir().joinpath(*parts)
