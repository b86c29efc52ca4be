"""The `neural-render` command.

Each area owns its sub-commands in `neural_render/<area>/cli.py` with a `register(subparsers)`
function; this file only discovers them, runs the chosen one and maps errors to exit codes, in one place:
- bad input (`InputError`) -> one line on stderr, exit 2;
- the environment refusing (no memory, input nested too deeply for Python's stack, a read-only
  or full disk, no permission: `MemoryError`, `RecursionError`, and `OSError`s with the errnos in
  `ENVIRONMENT_ERRNOS`) -> one line naming the cause and where it happened, exit 2;
- anything else is a bug -> "internal error" with a short traceback, exit 1
  (`NEURAL_RENDER_DEBUG=1` re-raises it with the full one).
"""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import pkgutil
import sys
import traceback

import neural_render
from neural_render.errors import InputError, quote

# OSErrors that describe the machine, not a bug: a one-line message and exit 2, with a fix.
ENVIRONMENT_ERRNOS = {
    errno.EACCES: "check the permissions of the file or folder",
    errno.EPERM: "check the permissions of the file or folder",
    errno.EROFS: "the filesystem is read-only; choose another --out",
    errno.ENOSPC: "the disk is full; free space or choose another --out",
    errno.EDQUOT: "the disk quota is exhausted; free space or choose another --out",
    errno.EFBIG: "the file is too large for this filesystem; choose another --out",
    errno.EIO: "the disk reported an I/O error",
    errno.ENAMETOOLONG: "use a shorter path",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.EISDIR: "the path is a folder, not a file",
    errno.ENOENT: "check the path exists",
    errno.EMFILE: "too many open files; raise the limit (ulimit -n)",
    errno.ENFILE: "too many open files on this machine",
    errno.ELOOP: "the path has a symbolic-link loop",
}
TRACEBACK_FRAMES = 6  # frames shown for an internal error


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="neural-render", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"neural-render {neural_render.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for mod in _command_modules():
        mod.register(sub)
    return parser


def _command_modules():
    """`neural_render.<area>.cli` modules, plus top-level modules named `*_cli`, in a stable order."""
    names = []
    for info in pkgutil.iter_modules(neural_render.__path__):
        if info.ispkg and importlib.util.find_spec(f"neural_render.{info.name}.cli") is not None:
            names.append(f"neural_render.{info.name}.cli")
        elif info.name.endswith("_cli"):
            names.append(f"neural_render.{info.name}")
    return [importlib.import_module(n) for n in sorted(names)]


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        rc = args.func(args)
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as e:
        message = environment_error(e)
        if message is not None:
            print(f"error: {message}", file=sys.stderr)
            return 2
        if os.environ.get("NEURAL_RENDER_DEBUG"):
            raise
        print(internal_error_text(e), file=sys.stderr)
        return 1
    return int(rc or 0)


def internal_error_text(e: BaseException) -> str:
    """What a bug prints: a header, the innermost TRACEBACK_FRAMES frames, the exception (capped)."""
    frames = traceback.format_tb(e.__traceback__)[-TRACEBACK_FRAMES:]
    return ("internal error (a bug: please report it with this output); traceback, innermost last:\n"
            + "".join(frames) + f"{type(e).__name__}: {str(e)[:500]}")


def _where(e: BaseException) -> str:
    """'file.py:LINE in function' of the innermost frame of e's traceback."""
    tb = traceback.extract_tb(e.__traceback__)
    if not tb:
        return "?"
    f = tb[-1]
    return f"{os.path.basename(f.filename)}:{f.lineno} in {f.name}"


def environment_error(e: BaseException) -> str | None:
    """A one-line message for an error the environment caused, or None when `e` is a bug."""
    if isinstance(e, MemoryError):
        return (f"out of memory ({_where(e)}); the input is larger than this machine can hold, "
                "or declares sizes it does not have")
    if isinstance(e, RecursionError):
        return (f"input nested too deeply to process ({_where(e)}); flatten the file's structure")
    if type(e).__name__ == "OutOfMemoryError":  # torch.cuda.OutOfMemoryError
        return f"out of GPU memory ({_where(e)}); lower --size or the batch size, or use --device cpu"
    if isinstance(e, OSError) and e.errno in ENVIRONMENT_ERRNOS:
        text = e.strerror or os.strerror(e.errno)
        if e.filename is None:
            return f"{text} ({ENVIRONMENT_ERRNOS[e.errno]}; in {_where(e)})"
        return f"{quote(str(e.filename), 300)}: {text} ({ENVIRONMENT_ERRNOS[e.errno]})"
    return None


if __name__ == "__main__":
    sys.exit(main())
