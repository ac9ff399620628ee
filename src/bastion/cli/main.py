"""The `bastion` command: serve, config, keys, scan, audit, usage."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys

# The gateway answers on one event-loop thread per process; numpy's BLAS (the injection classifier) would start a
# thread pool per core that only spins: a server process pinned to a core lent it CPU for nothing. Set before any
# subcommand imports numpy; an operator's own setting wins.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

# Each module registers its own subcommands with `register(subparsers)`.
COMMAND_MODULES = ("serve", "config_cmd", "keys", "scan", "audit", "usage")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bastion", description="Bastion: a secure gateway for LLM APIs.")
    parser.add_argument("--version", action="version", version=f"bastion {__import__('bastion').__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        try:
            mod = importlib.import_module(f"bastion.cli.{name}")
        except ModuleNotFoundError as e:
            if e.name == f"bastion.cli.{name}":
                continue  # a capability not installed in this build
            raise
        mod.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        rc = args.func(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `bastion keys list | head`: the reader left; no traceback
        with contextlib.suppress(OSError, ValueError, AttributeError):  # stdout may not be a file
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # the final flush must not fail again
        if args.command == "keys" and getattr(args, "keys_command", None) == "create":
            print("bastion: the output was cut off; the key was created but its secret may not have been "
                  "read: revoke it and create another (use --json to script it)", file=sys.stderr)
        return 141
    return int(rc or 0)


if __name__ == "__main__":
    sys.exit(main())
