"""`neural-render addon build [--out DIR]`: the Blender extension zip, with neural_render inside as a wheel.

The zip holds blender_addon/ (manifest, the UI shell) and wheels/:
  * neural_render-<version>-py3-none-any.whl: this package's Python files plus the smpl_assets data
    it needs at run time (default body, palettes, bone maps, licences) under neural_render/_assets
    (found there by `neural_render.paths.assets_dir`);
  * pure-Python wheels of its small dependencies that Blender's Python lacks (tqdm, PyYAML's pure
    part), repacked from the installed distributions, so the build needs no network.
numpy is not shipped: Blender's Python has it. The manifest's `wheels` list is written at build time.
The zip is checked with Blender's own extension validator (bl_pkg/cli/blender_ext.py from the bpy
module; the same code as `blender --command extension validate`) when bpy is installed.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import importlib.util
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import neural_render
from neural_render.errors import InputError
from neural_render.fileio import atomic_path

ADDON_DIR = Path(__file__).resolve().parent.parent / "blender_addon"
ADDON_FILES = ("blender_manifest.toml", "__init__.py", "preferences.py", "properties.py", "operators.py",
               "panels.py")
# Pure-Python distributions shipped beside neural_render (import name filter: skip compiled parts).
EXTRA_DISTRIBUTIONS = ("tqdm", "PyYAML")
# smpl_assets entries not shipped: build-time scripts and the smplx-format copy of the default body.
ASSET_SKIP_SUFFIXES = (".py", ".pyc", ".pkl")
ASSET_MAX_BYTES = 64 * 2**20
FIXED_DATE = (2024, 1, 1, 0, 0, 0)  # reproducible zips


def register(sub) -> None:
    p = sub.add_parser("addon", help="the Blender add-on (extension)")
    asub = p.add_subparsers(dest="addon_command", metavar="ACTION", required=True)
    b = asub.add_parser("build", help="build the installable extension zip")
    b.add_argument("--out", default="dist", help="output folder (default: dist)")
    b.add_argument("--no-validate", action="store_true", help="skip Blender's extension validator")
    b.set_defaults(func=_build_cmd)
    r = asub.add_parser("render-passes", help="render the passes of a saved .blend scene (the add-on's background render)")
    r.add_argument("--blend", required=True, help=".blend file with a neural_render body and a scene camera")
    r.add_argument("--scene", default=None, help="scene name (default: the file's active scene)")
    r.add_argument("--out", required=True)
    r.add_argument("--size", type=int, default=None, help="square size in pixels (default: the scene's resolution)")
    r.add_argument("--passes", default=None, help="comma-separated subset (default all)")
    r.add_argument("--profile", default="default")
    r.add_argument("--delete-blend", action="store_true", help="remove the .blend once it is loaded (a temporary copy)")
    r.set_defaults(func=_render_passes_cmd)


def _build_cmd(args) -> int:
    zip_path = build_extension(Path(args.out), validate=not args.no_validate)
    zip_path.chmod(0o644)
    print(zip_path)
    return 0


def _render_passes_cmd(args) -> int:
    blend = Path(args.blend)
    if not blend.is_file():
        raise InputError("file not found", path=blend)
    try:
        import bpy
    except ImportError:
        raise InputError("this needs the bpy module", fix="use the .venv made by scripts/setup.sh") from None
    from neural_render.blender import addon_api

    try:
        bpy.ops.wm.open_mainfile(filepath=str(blend))
    except RuntimeError as e:
        raise InputError(f"Blender cannot open it ({e})", path=blend) from None
    finally:
        if args.delete_blend:
            blend.unlink(missing_ok=True)
    scene = bpy.context.scene
    if args.scene and scene.name != args.scene:
        raise InputError(f"the file's active scene is {scene.name!r}, not {args.scene!r}", path=blend,
                         fix="save the file with that scene active")
    passes = [p.strip() for p in args.passes.split(",")] if args.passes else None
    from neural_render.errors import check_range
    from neural_render.fileio import exclusive_folder

    check_range(args.size, 8, 8192, "--size", "pixels")
    with exclusive_folder(args.out, "render-passes run"):
        addon_api.render_passes(scene, args.out, passes, args.size, args.profile, progress=True)
    print(f"passes written to {args.out}")
    return 0


# ------------------------------------------------------------------------------------ wheels

def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def write_wheel(path: Path, files: dict[str, bytes], dist_info: str) -> None:
    """Write a wheel zip from {archive name: bytes}; RECORD (hashes) is added last."""
    record = [_record_line(n, d) for n, d in files.items()] + [f"{dist_info}/RECORD,,"]
    files = {**files, f"{dist_info}/RECORD": ("\n".join(record) + "\n").encode()}
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, FIXED_DATE)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, files[name])


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name)


def _wheel_meta(name: str, version: str, requires: list[str] = ()) -> dict[str, bytes]:
    di = f"{_norm(name)}-{version}.dist-info"
    meta = [f"Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    meta += [f"Requires-Dist: {r}" for r in requires]
    wheel = ["Wheel-Version: 1.0", "Generator: neural-render addon build", "Root-Is-Purelib: true",
             "Tag: py3-none-any"]
    return {f"{di}/METADATA": ("\n".join(meta) + "\n").encode(), f"{di}/WHEEL": ("\n".join(wheel) + "\n").encode()}


def package_files() -> dict[str, bytes]:
    """neural_render's .py files and the smpl_assets it needs (as neural_render/_assets/...)."""
    pkg = Path(neural_render.__file__).resolve().parent
    files = {}
    for f in sorted(pkg.rglob("*")):
        rel = f.relative_to(pkg)
        if f.is_file() and "__pycache__" not in rel.parts and rel.parts[0] != "_assets" and f.suffix in (".py", ".json", ".typed"):
            files[f"neural_render/{rel.as_posix()}"] = f.read_bytes()
    from neural_render.paths import assets_dir

    try:
        assets = assets_dir()
    except FileNotFoundError:
        raise InputError("smpl_assets folder not found", fix="run from a source checkout or set NEURAL_RENDER_ASSETS")
    total = 0
    for f in sorted(assets.rglob("*")):
        rel = f.relative_to(assets)
        if not f.is_file() or "__pycache__" in rel.parts or f.name.startswith(".") or f.suffix in ASSET_SKIP_SUFFIXES:
            continue
        total += f.stat().st_size
        if total > ASSET_MAX_BYTES:
            raise InputError(f"smpl_assets is larger than {ASSET_MAX_BYTES >> 20} MiB", path=assets,
                             fix="raise ASSET_MAX_BYTES or slim the assets")
        files[f"neural_render/_assets/{rel.as_posix()}"] = f.read_bytes()
    return files


def build_package_wheel(out_dir: Path) -> Path:
    version = neural_render.__version__
    files = package_files()
    files.update(_wheel_meta("neural-render", version, ["numpy>=1.26", "pyyaml>=6", "tqdm>=4.60"]))
    di = f"neural_render-{version}.dist-info"
    files[f"{di}/entry_points.txt"] = b"[console_scripts]\nneural-render = neural_render.cli:main\n"
    path = out_dir / f"neural_render-{version}-py3-none-any.whl"
    write_wheel(path, files, di)
    return path


def repack_installed(dist_name: str, out_dir: Path) -> Path:
    """A py3-none-any wheel of an installed distribution's pure-Python files (compiled parts dropped)."""
    try:
        dist = importlib.metadata.distribution(dist_name)
    except importlib.metadata.PackageNotFoundError:
        raise InputError(f"'{dist_name}' is not installed here", fix=f"pip install {dist_name}") from None
    version = dist.version
    di = f"{_norm(dist.metadata['Name'])}-{version}.dist-info"
    files = {}
    for f in dist.files or []:
        name = str(f).replace("\\", "/")
        if name.startswith("..") or "__pycache__" in name or ".dist-info/" in name:
            continue
        if name.endswith((".so", ".pyd", ".dll", ".dylib", ".c", ".h", ".pyx")):
            continue
        data = Path(f.locate()).read_bytes()
        files[name] = data
    files.update(_wheel_meta(dist.metadata["Name"], version))
    lic = [f for f in (dist.files or []) if ".dist-info/" in str(f) and "LICEN" in str(f).upper()]
    for f in lic:
        files[f"{di}/{Path(str(f)).name}"] = Path(f.locate()).read_bytes()
    path = out_dir / f"{_norm(dist.metadata['Name'])}-{version}-py3-none-any.whl"
    write_wheel(path, files, di)
    return path


# ------------------------------------------------------------------------------------ extension

def manifest_with_wheels(template: str, version: str, wheels: list[str]) -> str:
    """The manifest text with `version` and the `wheels` list filled in."""
    text = re.sub(r'(?m)^version\s*=\s*".*"$', f'version = "{version}"', template)
    wheel_lines = "wheels = [\n" + "".join(f'  "./wheels/{w}",\n' for w in wheels) + "]"
    if re.search(r"(?ms)^wheels\s*=\s*\[.*?\]", text):
        text = re.sub(r"(?ms)^wheels\s*=\s*\[.*?\]", lambda m: wheel_lines, text)
    else:
        text = text.replace("\n[permissions]", f"\n{wheel_lines}\n\n[permissions]", 1)
    return text


def build_extension(out_dir: Path, validate: bool = True) -> Path:
    """Build `neural_render-<version>.zip` in `out_dir`; returns its path."""
    out_dir = Path(out_dir)
    missing = [f for f in ADDON_FILES if not (ADDON_DIR / f).is_file()]
    if missing:
        raise InputError(f"add-on sources missing: {missing}", path=ADDON_DIR, fix="run from a source checkout")
    version = neural_render.__version__
    wheel_dir = out_dir / ".wheels"
    wheel_dir.mkdir(parents=True, exist_ok=True)
    try:
        wheels = [build_package_wheel(wheel_dir)] + [repack_installed(d, wheel_dir) for d in EXTRA_DISTRIBUTIONS]
        manifest = manifest_with_wheels((ADDON_DIR / "blender_manifest.toml").read_text(), version,
                                        [w.name for w in wheels])
        zip_path = out_dir / f"neural_render-{version}.zip"
        with atomic_path(zip_path) as tmp:
            with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
                for name in ADDON_FILES:
                    data = manifest.encode() if name == "blender_manifest.toml" else (ADDON_DIR / name).read_bytes()
                    z.writestr(zipfile.ZipInfo(name, FIXED_DATE), data, zipfile.ZIP_DEFLATED)
                for w in wheels:
                    z.writestr(zipfile.ZipInfo(f"wheels/{w.name}", FIXED_DATE), w.read_bytes(), zipfile.ZIP_DEFLATED)
            if validate:
                validate_extension(tmp)
    finally:
        for w in wheel_dir.glob("*.whl"):
            w.unlink()
        wheel_dir.rmdir()
    return zip_path


def extension_validator() -> Path | None:
    """Blender's blender_ext.py (from the installed bpy module), or None when bpy is missing."""
    spec = importlib.util.find_spec("bpy")
    if spec is None or not spec.submodule_search_locations:
        return None
    root = Path(list(spec.submodule_search_locations)[0])
    hits = sorted(root.glob("*/scripts/addons_core/bl_pkg/cli/blender_ext.py"))
    return hits[-1] if hits else None


def validate_extension(zip_path: Path) -> str:
    """Run Blender's extension validator on the zip; raise InputError on failure, else its output."""
    tool = extension_validator()
    if tool is None:
        print("note: bpy not installed, skipped Blender's extension validator", file=sys.stderr)
        return ""
    r = subprocess.run([sys.executable, str(tool), "validate", str(zip_path)], capture_output=True, text=True)
    out = (r.stdout + r.stderr).strip()
    if r.returncode != 0 or "error" in out.lower():
        raise InputError(f"Blender's extension validator rejected the package: {out}", path=zip_path)
    return out
