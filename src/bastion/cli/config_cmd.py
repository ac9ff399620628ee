"""`bastion config check [FILE]`: validate a config and explain each error with its path."""

from __future__ import annotations

import argparse
import sys

from bastion.config.loader import ConfigError, load_config


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("config", help="validate configuration")
    csub = p.add_subparsers(dest="config_command", metavar="ACTION")
    csub.required = True
    c = csub.add_parser("check", help="validate a config file (or the built-in default)")
    c.add_argument("file", nargs="?", help="YAML config file (default: the built-in default)")
    c.set_defaults(func=check)
    d = csub.add_parser("docs", help="print the Markdown reference of every config field")
    d.set_defaults(func=docs)


def docs(args: argparse.Namespace) -> int:
    from bastion.config.reference import render

    sys.stdout.write(render())
    return 0


def check(args: argparse.Namespace) -> int:
    from bastion.app import validate_semantics

    try:
        cfg = load_config(args.file)
        problems = validate_semantics(cfg)
    except ConfigError as e:
        problems = e.errors
    if problems:
        print(f"{args.file or 'built-in default'}: {len(problems)} problem(s)", file=sys.stderr)
        for line in problems:
            print(f"  - {line}", file=sys.stderr)
        return 2
    print(f"{args.file or 'built-in default'}: OK ({len(cfg.providers)} providers, {len(cfg.models)} models, "
          f"{len(cfg.policies)} policies)")
    return 0
