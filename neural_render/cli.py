"""The `neural-render` command.

Each area owns its sub-commands in `neural_render/<area>/cli.py` with a `register(subparsers)`
function; this file only discovers them, runs the chosen one and maps errors to exit codes:
bad input (`InputError`) -> one line on stderr, exit 2; anything else -> traceback, exit 1.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

import neural_render
from neural_render.errors import InputError


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
    return int(rc or 0)


if __name__ == "__main__":
    sys.exit(main())
