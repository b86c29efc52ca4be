#!/usr/bin/env bash
# One-command set-up: creates .venv in the repository root with the `neural-render` command in it.
# Safe to re-run; it only installs what is missing.
#   TORCH_SPEC   torch requirement to install first (default torch==2.13.0: on machines that carry
#                a local CPU wheel pip takes it; elsewhere pip takes the CUDA build from PyPI).
#   NR_EXTRAS    extras of the package to install (default all).
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
.venv/bin/neural-render --version
