#!/usr/bin/env bash
# Run the add-on tests on Blender 4.2 LTS and 4.5 LTS (the bpy module wheels, CPython 3.11) beside
# the 5.0 in .venv. Each older bpy goes into its own temporary venv; everything else (numpy, OpenCV,
# torch, pytest, ...) is shared from .venv through a .pth line placed after the venv's own packages,
# so only bpy differs. Downloads the bpy wheels from PyPI (set-up time, ~300-400 MB each).
#
# Usage: scripts/addon_compat.sh [VERSION ...]        (default: 4.2 4.5; 5.0 always runs too)
#   NR_COMPAT_DIR  where the temporary venvs and logs go (default: a new folder under /tmp; reused if set)
# Exit status: 0 when every version passed.
set -uo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || { echo "error: .venv missing; run scripts/setup.sh first" >&2; exit 2; }
VERSIONS=("$@")
[ ${#VERSIONS[@]} -gt 0 ] || VERSIONS=(4.2 4.5)
WORK=${NR_COMPAT_DIR:-$(mktemp -d /tmp/nr_addon_compat.XXXXXX)}
mkdir -p "$WORK"
BASE_PY=$(.venv/bin/python -c 'import sys; print(getattr(sys, "_base_executable", sys.executable))')
MAIN_SITE=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
NUMPY=$(.venv/bin/python -c 'import numpy; print(numpy.__version__)')
TESTS=(tests/test_addon_rig.py tests/test_addon_build.py tests/test_addon_smpl.py tests/test_addon_e2e.py)
status=0
summary=""
for v in 5.0 "${VERSIONS[@]}"; do
  if [ "$v" = 5.0 ]; then
    py=.venv/bin/python
  else
    venv="$WORK/bpy$v"
    if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import bpy" 2>/dev/null; then
      echo "== installing bpy $v into $venv"
      "$BASE_PY" -m venv "$venv" || { summary+="bpy $v: venv failed\n"; status=1; continue; }
      if ! "$venv/bin/python" -m pip install -q "bpy==$v.*" "numpy==$NUMPY"; then
        summary+="bpy $v: pip install failed\n"; status=1; continue
      fi
      site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
      echo "$MAIN_SITE" > "$site/zz_neural_render_main_venv.pth"
    fi
    py="$venv/bin/python"
  fi
  ver=$("$py" -c "import bpy; print(bpy.app.version_string)" 2>/dev/null | tail -1)
  echo "== Blender $ver: ${TESTS[*]}"
  log="$WORK/tests_bpy$v.log"
  "$py" -m pytest -q -p no:cacheprovider "${TESTS[@]}" >"$log" 2>&1
  rc=$?
  line=$(grep -E "passed|failed|error" "$log" | tail -1)
  summary+="bpy $ver: ${line:-no result} (exit $rc, log $log)\n"
  [ $rc -eq 0 ] || status=1
done
printf "\n== add-on compatibility\n$summary"
exit $status
