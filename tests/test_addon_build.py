"""`neural-render addon build`: an installable, valid extension zip with neural_render inside as a wheel."""

import base64
import hashlib
import io
import tomllib
import zipfile

import pytest

from neural_render import __version__
from neural_render.addon_cli import build_extension, extension_validator, manifest_with_wheels
from neural_render.cli import main
from neural_render.paths import assets_dir


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("addon")
    assert main(["addon", "build", "--out", str(out)]) == 0  # also runs Blender's validator
    return out / f"neural_render-{__version__}.zip"


def _wheel(z: zipfile.ZipFile, name: str) -> zipfile.ZipFile:
    return zipfile.ZipFile(io.BytesIO(z.read(name)))


def test_zip_layout_and_manifest(built):
    with zipfile.ZipFile(built) as z:
        names = set(z.namelist())
        manifest = tomllib.loads(z.read("blender_manifest.toml").decode())
    for f in ("blender_manifest.toml", "__init__.py", "preferences.py", "properties.py", "operators.py", "panels.py"):
        assert f in names
    assert manifest["schema_version"] == "1.0.0" and manifest["id"] == "neural_render"
    assert manifest["version"] == __version__ and manifest["blender_version_min"] == "4.2.0"
    assert "files" in manifest["permissions"]
    wheels = [w.removeprefix("./") for w in manifest["wheels"]]
    assert f"wheels/neural_render-{__version__}-py3-none-any.whl" in wheels
    assert set(wheels) <= names
    assert not any("numpy" in w for w in wheels)  # Blender ships numpy
    assert all(w.endswith("-py3-none-any.whl") for w in wheels)


def test_package_wheel_is_complete_and_consistent(built):
    with zipfile.ZipFile(built) as z:
        whl = _wheel(z, f"wheels/neural_render-{__version__}-py3-none-any.whl")
    names = set(whl.namelist())
    for mod in ("neural_render/__init__.py", "neural_render/body/model.py", "neural_render/blender/rig.py",
                "neural_render/blender/heavy.py", "neural_render/motion/motion.py"):
        assert mod in names
    assert not any("__pycache__" in n for n in names)
    shipped_assets = {n.removeprefix("neural_render/_assets/") for n in names if n.startswith("neural_render/_assets/")}
    repo_assets = {p.relative_to(assets_dir()).as_posix() for p in assets_dir().rglob("*.json")}
    assert repo_assets <= shipped_assets
    if (assets_dir() / "default_body.npz").exists():
        assert "default_body.npz" in shipped_assets
    # RECORD lists every file with its sha256 (what pip and Blender's installer verify).
    di = f"neural_render-{__version__}.dist-info"
    record = whl.read(f"{di}/RECORD").decode().splitlines()
    listed = {}
    for line in record:
        name, digest, size = line.rsplit(",", 2)
        listed[name] = digest
    assert set(listed) == names
    for name, digest in listed.items():
        if digest:
            data = whl.read(name)
            assert digest == "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    meta = whl.read(f"{di}/METADATA").decode()
    assert "Name: neural-render" in meta and f"Version: {__version__}" in meta


def test_validator_rejects_a_bad_manifest(tmp_path, built):
    if extension_validator() is None:
        pytest.skip("bpy not installed")
    from neural_render.addon_cli import validate_extension
    from neural_render.errors import InputError

    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(built) as src, zipfile.ZipFile(bad, "w") as dst:
        for n in src.namelist():
            data = src.read(n)
            if n == "blender_manifest.toml":
                data = data.replace(b'id = "neural_render"', b'id = "neural render!"')
            dst.writestr(n, data)
    with pytest.raises(InputError, match="validator"):
        validate_extension(bad)


def test_manifest_wheels_are_filled_in():
    text = manifest_with_wheels('version = "0"\nwheels = []\n\n[permissions]\nfiles = "x"\n', "1.2.3", ["a-1-py3-none-any.whl"])
    data = tomllib.loads(text)
    assert data["version"] == "1.2.3" and data["wheels"] == ["./wheels/a-1-py3-none-any.whl"]
