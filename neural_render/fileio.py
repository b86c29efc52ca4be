"""Atomic file writing: a reader never sees a half-written file, and a crash leaves no partial output.

Everything is written to a temporary file in the destination folder and renamed into place
(`os.replace` is atomic on POSIX within one filesystem).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Iterator

import numpy as np

from neural_render.errors import InputError


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it is renamed to `path`, on error removed.

    The temporary name keeps the suffix so libraries that pick a format by extension still work.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    os.close(fd)
    # mkstemp creates 0600 files; give the result the permissions a plain open() would.
    os.chmod(tmp, 0o666 & ~_UMASK)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yield a fresh temporary folder beside `path`; on success it replaces `path` (an existing
    folder there is removed first), on error it is removed. Readers see the old folder or the
    whole new one, never a half-written one (bar the instant between removal and rename)."""
    import shutil

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
    try:
        os.chmod(tmp, 0o777 & ~_UMASK)  # mkdtemp creates 0700 folders; give what mkdir would
        yield tmp
        if path.exists():
            shutil.rmtree(path)
        tmp.rename(path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | Path, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_json(path: str | Path, obj, indent: int | None = 2) -> None:
    write_text(path, json.dumps(obj, indent=indent, default=_json_default) + "\n")


def write_npz(path: str | Path, **arrays) -> None:
    """np.savez's format (uncompressed, no pickles), written atomically. The zip is closed here
    even when a write fails (a full disk), so no half-closed archive is left for the GC to report."""
    import zipfile

    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            zf = zipfile.ZipFile(f, "w", zipfile.ZIP_STORED, allowZip64=True)
            try:
                for name, value in arrays.items():
                    with zf.open(f"{name}.npy", "w", force_zip64=True) as member:
                        np.lib.format.write_array(member, np.asanyarray(value), allow_pickle=False)
            except BaseException:
                zf.fp = None  # the archive is discarded: close() must not write its directory
                raise
            zf.close()


_READ_FLAGS = {"rgb": 1, "unchanged": -1, "gray": 0}  # cv2.IMREAD_COLOR / _UNCHANGED / _GRAYSCALE


def read_image(path: str | Path, mode: str = "rgb", missing_ok: bool = False) -> np.ndarray | None:
    """Read an image file as `write_image` writes them: channels in RGB / RGBA order.

    mode: "rgb" -> (H, W, 3) uint8; "unchanged" -> as stored (uint8 or uint16; (H, W) labels,
    (H, W, 3) RGB or (H, W, 4) RGBA); "gray" -> (H, W) uint8.
    A missing or unreadable file raises InputError, or returns None with `missing_ok`.
    """
    import cv2

    img = cv2.imread(str(path), _READ_FLAGS[mode])
    if img is None:
        if missing_ok:
            return None
        raise InputError("cannot read image", path=path, fix="check the file is a readable png/jpg image")
    if img.ndim == 3 and img.shape[2] == 3:
        img = img[..., ::-1]
    elif img.ndim == 3 and img.shape[2] == 4:
        img = img[..., [2, 1, 0, 3]]
    return np.ascontiguousarray(img)


def write_image(path: str | Path, image: np.ndarray) -> None:
    """Write an image with OpenCV (RGB/RGBA input, uint8 or uint16) atomically."""
    import cv2

    path = Path(path)
    img = np.asarray(image)
    if img.ndim == 3 and img.shape[2] == 3:
        img = img[..., ::-1]
    elif img.ndim == 3 and img.shape[2] == 4:
        img = img[..., [2, 1, 0, 3]]
    ok, buf = cv2.imencode(path.suffix or ".png", np.ascontiguousarray(img))
    if not ok:
        raise RuntimeError(f"could not encode {path}")
    write_bytes(path, buf.tobytes())


def _json_default(o):
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (np.floating, np.integer, np.bool_)):
        return o.item()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


# ------------------------------------------------------------------------------------ reading input
MAX_NPZ_BYTES = 1 << 30      # decompressed bytes of all members of an .npz (an SMPL-X model is ~0.3 GiB)
MAX_NPZ_MEMBERS = 4096
MAX_JSON_BYTES = 1 << 30     # a JSON input file (a COCO keypoint file of a long video is ~100 MB)


def check_npz(path: str | Path, max_bytes: int = MAX_NPZ_BYTES) -> None:
    """Refuse an .npz whose declared sizes exceed `max_bytes` before anything is inflated.

    Checks each zip member's declared uncompressed size (zipfile never inflates more than that),
    their sum, and that each `.npy` header's shape x itemsize fits in its member (numpy allocates
    the header's shape before reading the data). Raises InputError; an unreadable zip is left to
    the caller's own np.load error."""
    import zipfile

    path = Path(path)
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return  # not a zip: np.load reports it (or reads a plain .npy, which it maps by its size)
    with zf:
        infos = zf.infolist()
        if len(infos) > MAX_NPZ_MEMBERS:
            raise InputError(f".npz holds {len(infos):,} arrays (limit {MAX_NPZ_MEMBERS:,})", path=path)
        total = sum(i.file_size for i in infos)
        if total > max_bytes:
            raise InputError(f".npz inflates to {total:,} bytes (limit {max_bytes:,}; the file is "
                             f"{path.stat().st_size:,} bytes)", path=path,
                             fix="a motion or model is far smaller; the file is damaged or hostile")
        for info in infos:
            if not info.filename.endswith(".npy"):
                continue
            try:
                with zf.open(info) as f:
                    version = np.lib.format.read_magic(f)
                    shape, _fortran, dtype = np.lib.format._read_array_header(f, version, max_header_size=10000)
                    header = f.tell()
            except Exception:
                continue  # garbled header: np.load reports it
            need = int(np.prod(shape, dtype=object)) * dtype.itemsize
            if need + header > info.file_size:
                raise InputError(f"array '{info.filename[:-4]}' declares shape {shape} ({need:,} bytes) but "
                                 f"holds {info.file_size - header:,} bytes", path=path,
                                 fix="the file is damaged or hostile")


def load_npz(path: str | Path, max_bytes: int = MAX_NPZ_BYTES) -> dict:
    """All arrays of an .npz as a dict, after `check_npz`; never unpickles (object arrays refused)."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            magic = f.read(4)
    except OSError as e:
        raise InputError(f"cannot read ({e.strerror})", path=path) from None
    if magic[:2] != b"PK":
        raise InputError("not a readable .npz (not a zip archive)", path=path,
                         fix="save arrays with np.savez")
    check_npz(path, max_bytes)
    try:
        with np.load(path, allow_pickle=False) as z:
            if not hasattr(z, "files"):
                raise InputError("a plain .npy, not an .npz", path=path, fix="save with np.savez")
            return {k: z[k] for k in z.files}
    except InputError:
        raise
    except ValueError as e:
        if "pickle" in str(e).lower():
            raise InputError("npz holds pickled objects, which are not loaded", path=path,
                             fix="save arrays only (np.savez)") from None
        raise InputError(f"not a readable .npz ({str(e)[:200]})", path=path) from None
    except MemoryError:
        raise
    except Exception as e:
        raise InputError(f"not a readable .npz ({type(e).__name__}: {str(e)[:200]})", path=path) from None


def read_json(path: str | Path, max_bytes: int = MAX_JSON_BYTES):
    """Parse a JSON input file; any problem (size, encoding, syntax, nesting too deep for the
    parser) is an InputError naming the file."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise InputError(f"JSON file of {size:,} bytes (limit {max_bytes:,})", path=path)
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise InputError(f"cannot read ({e.strerror})", path=path) from None
    except UnicodeDecodeError:
        raise InputError("not UTF-8 text", path=path, fix="save the file as UTF-8 JSON") from None
    if not text.strip():
        raise InputError("empty file", path=path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(f"not valid JSON ({e.msg} at line {e.lineno} column {e.colno})", path=path) from None
    except ValueError as e:  # e.g. an integer of more than 4,300 digits
        raise InputError(f"not readable JSON ({str(e)[:120]})", path=path) from None
    except RecursionError:
        raise InputError("JSON nested too deeply to parse", path=path,
                         fix="keypoint and calibration files nest a few levels") from None


# ------------------------------------------------------------------------------ output folder lock
class OutputLock:
    """An exclusive lock on an output folder, held while a command writes it.

    `flock` on `<lock file>`: the OS releases it when the process dies (kill -9 included), so a
    stale lock never blocks a rerun, while a live run refuses a second one on the same folder.
    The file is removed when the lock is released normally.
    Holding it also proves that temporaries in the folder (`.*.tmp*`, written by atomic_path /
    atomic_dir and renamed on success) belong to dead runs: `clean_temporaries` removes them.
    """

    def __init__(self, lock_file: str | Path, what: str = "run"):
        self.lock_file = Path(lock_file)
        self.what = what
        self._fd: int | None = None

    def acquire(self) -> "OutputLock":
        import fcntl

        self.lock_file.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.lock_file, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise InputError(f"another {self.what} is writing this folder", path=self.lock_file.parent,
                                 fix="wait for it to finish or choose another --out") from None
            # The file is removed on release; if that happened between our open and flock, we hold
            # a lock on a deleted file that the next run cannot see: retry on the current one.
            try:
                same = os.stat(self.lock_file).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                self._fd = fd
                return self
            os.close(fd)

    def release(self) -> None:
        """Remove the lock file (while still holding the lock), then release it: a finished run
        leaves nothing beside its output; a killed one leaves the file, unlocked, for the next."""
        if self._fd is not None:
            try:
                self.lock_file.unlink()
            except OSError:
                pass
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "OutputLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def lock_output(folder: str | Path, what: str = "run") -> OutputLock:
    """Lock `folder` (created if missing) with `folder/.lock`; use as a context manager."""
    return OutputLock(Path(folder) / ".lock", what)


def lock_beside(path: str | Path, what: str = "run") -> OutputLock:
    """Lock an output that is replaced whole (atomic_dir, a single file) with `.NAME.lock` beside it."""
    path = Path(path)
    return OutputLock(path.parent / f".{path.name}.lock", what)


# Names atomic_path / atomic_dir give their temporaries (mkstemp / mkdtemp add 8 random characters):
# strict enough that another program's dot-files in a shared --out folder are never matched.
TEMPORARY_PATTERNS = (".*.????????.tmp*", ".*.tmp-????????")


def clean_temporaries(folders, patterns: tuple[str, ...] = TEMPORARY_PATTERNS) -> int:
    """Remove temporaries left by dead runs in `folders` (call only while holding their lock).
    Returns how many were removed; folders (atomic_dir staging) are removed whole."""
    import shutil

    n = 0
    for d in folders:
        d = Path(d)
        if not d.is_dir():
            continue
        for pat in patterns:
            for p in d.glob(pat):
                if p.is_dir() and not p.is_symlink():
                    shutil.rmtree(p, ignore_errors=True)
                else:
                    p.unlink(missing_ok=True)
                n += 1
    return n


@contextlib.contextmanager
def exclusive_folder(folder: str | Path, what: str) -> Iterator[Path]:
    """Hold `folder`'s lock while a command writes into it (a second run on it is refused with an
    InputError), after removing temporaries that dead runs left in it and its direct sub-folders.

    The lock file is `.NAME.lock` beside the folder, so the folder itself is neither created nor
    changed here (commands decide what an existing or empty folder means)."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise InputError("output path exists and is not a folder", path=folder, fix="choose another --out")
    with lock_beside(folder, what):
        if folder.is_dir():
            clean_temporaries([folder] + [p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")])
        yield folder


@contextlib.contextmanager
def exclusive_replacement(path: str | Path, what: str) -> Iterator[Path]:
    """Hold the lock of an output replaced whole (atomic_dir: `prepare`), `.NAME.lock` beside it,
    after removing the `.NAME.tmp-*` staging folders and `.NAME.*.tmp*` files of dead runs."""
    path = Path(path)
    with lock_beside(path, what):
        clean_temporaries([path.parent], (f".{path.name}.tmp-????????", f".{path.stem}.????????.tmp*"))
        yield path


def sweep_dead_pid_dirs(base: str | Path, prefix: str) -> int:
    """Remove scratch folders `base/<prefix><pid>_*` whose process is gone (kill -9 leftovers).
    Returns how many were removed."""
    import shutil

    n = 0
    try:
        names = os.listdir(base)
    except OSError:
        return 0
    for name in names:
        if not name.startswith(prefix):
            continue
        pid_text = name[len(prefix):].split("_", 1)[0]
        if not pid_text.isdigit():
            continue
        try:
            os.kill(int(pid_text), 0)
        except ProcessLookupError:
            shutil.rmtree(os.path.join(base, name), ignore_errors=True)
            n += 1
        except OSError:  # alive but not ours to signal
            pass
    return n
