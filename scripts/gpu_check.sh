#!/usr/bin/env bash
# The GPU check, in one go: set-up, then `neural-render bench all` (CUDA-vs-CPU tests marked `cuda`,
# every benchmark as JSON, a summary table against the goals, printed last). README and BENCHMARKS.md.
#
#   bash scripts/gpu_check.sh [--quick] [--device auto|cuda|cpu] [--out DIR] [--train-seconds S]
#
# Output: one folder, $OUT when set, else --out, else ./gpu_check_out (at most 8 files: results.json,
# summary.txt, pytest.txt, train_curve.png, train_log.jsonl, setup.txt, log.txt).
# Without a CUDA device the CPU parts run, "no CUDA device: GPU checks skipped" is printed, exit 0
# (CI runs `bash scripts/gpu_check.sh --quick` this way). Exit 1: a test failed or a benchmark crashed.
#
# Set-up, the fastest that fits the machine:
#  1. .venv exists with torch in it (the README's set-up ran): use it.
#  2. else a python3 that already has PyTorch's CUDA build (a CUDA image, possibly with no package
#     registry): use it as is, with this checkout on PYTHONPATH; wheels in $NR_WHEELS (default .whl,
#     made by `bash scripts/gpu_wheels.sh` on a machine with PyPI) are installed offline into a
#     temporary folder. System libraries missing for EGL (libEGL, libOpenGL) can come as .deb files in
#     $NR_DEBS (default .gl), unpacked when running as root and libEGL is absent.
#  3. else the README's set-up, `bash scripts/setup.sh` (PyPI's torch for Linux is the CUDA build;
#     TORCH_SPEC chooses another).
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
ARGS=()
OUT_DIR=${OUT:-}
while [ $# -gt 0 ]; do
  case "$1" in
    --out) OUT_DIR=$2; shift 2 ;;
    --out=*) OUT_DIR=${1#--out=}; shift ;;
    *) ARGS+=("$1"); shift ;;
  esac
done
OUT_DIR=${OUT_DIR:-gpu_check_out}
mkdir -p "$OUT_DIR"
OUT_DIR=$(cd "$OUT_DIR" && pwd)
exec > >(tee "$OUT_DIR/log.txt") 2>&1
T0=$(date +%s)
echo "[gpu_check] $(date -u +%FT%TZ) in $ROOT, output in $OUT_DIR"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm --format=csv,noheader 2>&1 | head -4

has_torch() { "$1" -c 'import torch' >/dev/null 2>&1; }
has_cuda_build() { "$1" -c 'import sys, torch; sys.exit(torch.version.cuda is None)' >/dev/null 2>&1; }

GPU=$(nvidia-smi -L 2>/dev/null | head -1 || true)
PY=""
SETUP=""
if [ -x .venv/bin/python ] && has_torch .venv/bin/python && { [ -z "$GPU" ] || has_cuda_build .venv/bin/python; }; then
  PY=.venv/bin/python; SETUP="existing .venv"
elif [ -n "$GPU" ]; then
  for c in python3 python; do
    if command -v "$c" >/dev/null && has_cuda_build "$c"; then PY=$(command -v "$c"); SETUP="preinstalled $PY with PyTorch's CUDA build"; break; fi
  done
fi
if [ -z "$PY" ] && [ -x .venv/bin/python ] && has_torch .venv/bin/python; then
  PY=.venv/bin/python; SETUP="existing .venv (its torch has no CUDA)"
fi
# A GPU is present: ask for CUDA, so a torch that cannot use it fails loudly instead of skipping.
if [ -n "$GPU" ] && ! printf '%s\n' ${ARGS[@]+"${ARGS[@]}"} | grep -q -- '--device'; then ARGS+=(--device cuda); fi
if [ -n "$PY" ] && [ "$PY" != ".venv/bin/python" ]; then
  # A CUDA image: this checkout on the path, missing pure-Python pieces from carried wheels.
  SITE=$(mktemp -d /tmp/nr_site.XXXXXX)
  WHL=${NR_WHEELS:-.whl}
  if ls "$WHL"/*.whl >/dev/null 2>&1; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$SITE" "$WHL"/*.whl \
      && SETUP="$SETUP + wheels from $WHL" || echo "[gpu_check] warning: installing $WHL/*.whl failed"
  fi
  export PYTHONPATH="$ROOT:$SITE${PYTHONPATH:+:$PYTHONPATH}"
  DEBS=${NR_DEBS:-.gl}
  if ! ldconfig -p 2>/dev/null | grep -q 'libEGL.so.1' && ls "$DEBS"/*.deb >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    for f in "$DEBS"/*.deb; do dpkg -x "$f" /; done; ldconfig; SETUP="$SETUP + EGL libraries from $DEBS"
  fi
fi
if [ -z "$PY" ]; then
  echo "[gpu_check] no Python with torch found: running the README set-up (scripts/setup.sh)"
  bash scripts/setup.sh || { echo "error: scripts/setup.sh failed (see above)"; exit 1; }
  PY=.venv/bin/python; SETUP="scripts/setup.sh (TORCH_SPEC=${TORCH_SPEC:-default})"
fi
# NVIDIA's EGL vendor file where a driver mount keeps it outside glvnd's default folders
for j in /usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json; do
  if [ -f "$j" ] && [ -z "${__EGL_VENDOR_LIBRARY_FILENAMES:-}" ] && [ ! -f /usr/share/glvnd/egl_vendor.d/10_nvidia.json ]; then
    export __EGL_VENDOR_LIBRARY_FILENAMES=$j
  fi
done
export PYTHONUNBUFFERED=1
{
  echo "set-up: $SETUP ($(( $(date +%s) - T0 )) s)"
  "$PY" - <<'EOF'
import importlib, platform, sys
print("python", platform.python_version(), sys.executable)
for m in ("torch", "numpy", "cv2", "safetensors", "scipy", "pyrender", "OpenGL", "trimesh", "OpenEXR", "bpy", "pytest"):
    try:
        mod = importlib.import_module(m)
        print(f"  {m} {getattr(mod, '__version__', '')}")
    except Exception as e:  # noqa: BLE001
        print(f"  {m} MISSING ({type(e).__name__}: {str(e)[:80]})")
import torch
print("  cuda", torch.version.cuda, "available", torch.cuda.is_available(),
      torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")
EOF
} 2>&1 | tee "$OUT_DIR/setup.txt"
cd "$ROOT"
export NR_CHECK_T0=$T0  # bench all reports the time from here, set-up included
exec "$PY" -m neural_render bench all --out "$OUT_DIR" ${ARGS[@]+"${ARGS[@]}"}
