"""The `bizpbx` command line: discovers the subcommands in `bizpbx.commands`."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from bizpbx import __version__, commands
from bizpbx.commands._site import secrets_for


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bizpbx", description=__doc__)
    parser.add_argument("--version", action="version", version=f"bizpbx {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module_info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if module_info.name.startswith("_"):
            continue  # shared helpers, not commands
        module = importlib.import_module(f"{commands.__name__}.{module_info.name}")
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        with secrets_for(args.command):
            return args.handler(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`bizpbx events | head`): not an error of ours.
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
