#!/usr/bin/env bash
# Fetch, on a machine with PyPI access, the wheels that scripts/gpu_check.sh installs offline on a
# GPU machine that has Python + PyTorch (CUDA build) but no package registry (e.g. a CUDA image).
# Only what such an image usually lacks and the checks import: the raster renderer's pyrender stack
# and OpenEXR. Everything else (torch, numpy, opencv, scipy, safetensors, pytest...) is expected there.
#   usage: bash scripts/gpu_wheels.sh [DIR]      (default .whl; about 15 MB)
#   PYVER  the GPU machine's Python, default 3.12
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${1:-.whl}
PYVER=${PYVER:-3.12}
PY=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
mkdir -p "$DIR"
# Versions: those the project's set-up installs (PyOpenGL: 3.1.10, the newest with a wheel; 3.1.0 has none).
WHEELS="pyrender==0.1.45 PyOpenGL==3.1.10 trimesh==5.2.0 pyglet==2.1.19 freetype-py==2.5.1 OpenEXR==3.5.3"
PLATS=""
for n in 17 27 28 31 34; do PLATS="$PLATS --platform manylinux_2_${n}_x86_64"; done
for w in $WHEELS; do
  "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version "$PYVER" --implementation cp \
    $PLATS --platform manylinux2014_x86_64 --platform any -d "$DIR" "$w" \
    || { echo "error: could not fetch $w for Python $PYVER; edit WHEELS in $0" >&2; exit 2; }
done
du -sh "$DIR"
ls "$DIR"
