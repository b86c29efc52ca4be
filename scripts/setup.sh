#!/usr/bin/env bash
# One-command set-up: creates .venv in the repository root with the `neural-render` command in it.
# Safe to re-run; it only installs what is missing.
#   TORCH_SPEC   torch requirement to install first (default torch==2.13.0: on machines that carry
#                a local CPU wheel pip takes it; elsewhere pip takes the CUDA build from PyPI).
#   NR_EXTRAS    extras of the package to install (default all).
#   NR_DETECTOR  1 (default) installs the built-in pose detector (mediapipe 0.10.14) into .venv/mediapipe.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-}
if [ -z "$PY" ]; then
  for c in python3.11 python3; do
    if command -v "$c" >/dev/null && "$c" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then PY=$c; break; fi
  done
fi
[ -n "$PY" ] || { echo "error: Python 3.11 is required (bpy wheels exist for CPython 3.11 only); install it and re-run, or set PYTHON=/path/to/python3.11" >&2; exit 2; }
[ -x .venv/bin/python ] || "$PY" -m venv .venv
PIP=".venv/bin/python -m pip"
$PIP install -q --upgrade "pip>=23" >/dev/null 2>&1 || true
# torch first and pinned, so the package's open range `torch>=2.1` installs nothing more.
.venv/bin/python -c 'import torch' 2>/dev/null || $PIP install -q "${TORCH_SPEC:-torch==2.13.0}"
$PIP install -q -e ".[${NR_EXTRAS:-all}]"
# The built-in detector (neural_render/capture/detect.py): mediapipe 0.10.14 is the last release whose
# wheel carries its models. Its metadata asks for opencv-contrib-python (a second cv2), jax, jaxlib,
# sounddevice and protobuf<5; the pose/segmentation/hands path needs none of the first four, and
# protobuf<5 would break ray's dashboard stack (protobuf>=6). So mediapipe and protobuf 4 go, without
# dependencies, into a private folder the detector puts on sys.path; absl-py, attrs, flatbuffers and
# matplotlib come from the `detect` extra above, OpenCV from `io`.
if [ "${NR_DETECTOR:-1}" = 1 ] && [ ! -d .venv/mediapipe/mediapipe ]; then
  $PIP install -q --no-deps --target .venv/mediapipe "mediapipe==0.10.14" "protobuf>=4.25,<5"
fi
.venv/bin/neural-render --version
