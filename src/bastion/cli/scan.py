"""`bastion scan`: run a policy over JSONL texts on stdin, one JSON verdict per line on stdout."""

from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path
from typing import TextIO

import yaml

from bastion.config.loader import ConfigError, parse_config
from bastion.config.policy import TEXT_SOURCES
from bastion.policy.engine import PolicyEngine, TextVerdict
from bastion.policy.registry import ScannerRegistry
from bastion.policy.selection import PolicySet

DESCRIPTION = """Test a policy offline before deploying it. Reads JSON lines {"text": "..."} on stdin
(optionally {"text": "...", "role": "tool"}: input rules limited by `roles` see the text as that part
of a request; default --role, itself default user) and writes one verdict per line: {"decision": "allow"|"redact"|"block"|"flag", "findings":
[{"scanner", "type", "start", "end", "score"}], "redacted": "..."}. Offsets are characters
of the input text. "redacted" has every redacted or blocking finding replaced by a placeholder.
Without --config the built-in default policy is used."""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `scan` to the `bastion` command's subparsers (argparse)."""
    p = subparsers.add_parser("scan", help="run a policy over JSONL texts on stdin",
                              description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", metavar="FILE", help="config file whose `policies` section is used")
    p.add_argument("--policy", metavar="NAME", default="default", help="policy to apply (default: default)")
    p.add_argument("--direction", choices=("input", "output"), default="input",
                   help="apply the policy's input rules (prompts) or output rules (responses)")
    p.add_argument("--role", choices=TEXT_SOURCES, default="user",
                   help="input: the part of a request each text stands for, for rules with `roles` (default user)")
    p.set_defaults(func=run)


def load_policies(path: str | None, registry: ScannerRegistry | None = None) -> PolicySet:
    """The policies of config file `path` (only its `policies` section is read), or the built-in."""
    if path is None:
        return PolicySet({}, registry=registry)
    try:
        raw = yaml.safe_load(Path(path).read_text())
    except OSError as e:
        raise ConfigError([f"{path}: cannot read: {e.strerror}"]) from None
    except yaml.YAMLError as e:
        raise ConfigError([f"{path}: invalid YAML: {getattr(e, 'problem', e)}"]) from None
    if raw is not None and not isinstance(raw, dict):
        raise ConfigError([f"{path}: must be a mapping of sections"])
    config = parse_config({"policies": (raw or {}).get("policies") or {}})
    return PolicySet(config.policies, registry=registry)


def verdict_json(v: TextVerdict) -> dict[str, object]:
    out: dict[str, object] = {
        "decision": v.decision,
        "findings": [{"scanner": f.scanner, "type": f.type, "start": f.start, "end": f.end,
                      "score": round(f.score, 3)} for f in v.findings],
        "redacted": v.redacted,
    }
    if v.reason:
        out["reason"] = v.reason
    return out


def scan_lines(engine: PolicyEngine, direction: str, stdin: TextIO, stdout: TextIO, role: str = "user") -> int:
    """Returns 0, or 1 when some line was not a JSON object with a string "text" (and, if it has
    one, a known "role")."""
    status = 0
    for n, line in enumerate(stdin, start=1):
        if not line.strip():
            continue
        bad = _invalid_utf8(line)
        if bad is not None:
            status = 1
            stdout.write(json.dumps({"line": n, "error": f"not valid UTF-8: {bad}"}) + "\n")
            continue
        try:
            item = json.loads(line)
        except ValueError as e:
            status = 1
            stdout.write(json.dumps({"line": n, "error": f"invalid JSON: {e.args[0] if e.args else e}"}) + "\n")
            continue
        if not isinstance(item, dict) or not isinstance(item.get("text"), str):
            status = 1
            stdout.write(json.dumps({"line": n, "error": 'expected an object with a string "text"'}) + "\n")
            continue
        if _invalid_utf8(item["text"]) is not None:
            status = 1
            stdout.write(json.dumps({"line": n, "error": '"text" has a lone surrogate escape (\\ud800-\\udfff): '
                                                         'not valid Unicode'}) + "\n")
            continue
        line_role = item.get("role", role)
        if line_role not in TEXT_SOURCES:
            status = 1
            stdout.write(json.dumps({"line": n, "error": f'"role" must be one of {", ".join(TEXT_SOURCES)}'}) + "\n")
            continue
        verdict = engine.evaluate_text(item["text"], "output" if direction == "output" else "input", line_role)
        stdout.write(json.dumps(verdict_json(verdict), ensure_ascii=False) + "\n")
    return status


def _invalid_utf8(text: str) -> str | None:
    """Why `text` cannot be written as UTF-8 (a byte of the input that was not UTF-8, read with
    surrogateescape, or a lone surrogate), or None. Never quotes the text."""
    if text.isascii():
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        ch = ord(text[e.start])
        what = f"byte 0x{ch - 0xDC00:02x}" if 0xDC80 <= ch <= 0xDCFF else f"lone surrogate U+{ch:04X}"
        return f"{what} at character {e.start + 1}"
    return None


def _stdin() -> TextIO:
    """stdin as UTF-8 whatever the locale, undecodable bytes kept (as surrogates) so that a bad
    line is reported by number instead of ending the run with a traceback."""
    buffer = getattr(sys.stdin, "buffer", None)
    if buffer is None:
        return sys.stdin
    return io.TextIOWrapper(buffer, encoding="utf-8", errors="surrogateescape")


def run(args: argparse.Namespace, stdin: TextIO | None = None, stdout: TextIO | None = None,
        stderr: TextIO | None = None, registry: ScannerRegistry | None = None) -> int:
    stdin, stdout, stderr = stdin or _stdin(), stdout or sys.stdout, stderr or sys.stderr
    try:
        policies = load_policies(args.config, registry)
    except ConfigError as e:
        for err in e.errors:
            print(f"config error: {err}", file=stderr)
        return 2
    engine = policies.engines.get(args.policy)
    if engine is None:
        print(f"config error: unknown policy {args.policy!r} (known: {', '.join(sorted(policies.engines))})",
              file=stderr)
        return 2
    return scan_lines(engine, args.direction, stdin, stdout, getattr(args, "role", "user"))
