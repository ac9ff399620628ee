"""`bastion scan`: JSONL in, one verdict per line out, errors as JSON lines."""

from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path

import pytest

from bastion.cli.scan import register, run
from bastion.policy.registry import ScannerRegistry
from tests.unit.policy.fake_credentials import SECRETS

GH = SECRETS["github_token"][1]


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bastion")
    register(parser.add_subparsers(dest="command"))
    return parser.parse_args(["scan", *argv])


def scan(registry: ScannerRegistry, lines: list[str], *argv: str) -> tuple[int, list[dict[str, object]], str]:
    out, err = io.StringIO(), io.StringIO()
    code = run(parse(*argv), io.StringIO("\n".join(lines) + "\n"), out, err, registry)
    return code, [json.loads(line) for line in out.getvalue().splitlines()], err.getvalue()


def test_verdicts_with_the_builtin_policy(registry: ScannerRegistry) -> None:
    code, out, _ = scan(registry, [json.dumps({"text": "hello"}), json.dumps({"text": "mail a@b.io"}),
                                   json.dumps({"text": f"key {GH}"})])
    assert code == 0
    assert out[0] == {"decision": "allow", "findings": [], "redacted": "hello"}
    assert out[1] == {"decision": "redact", "redacted": "mail [EMAIL_1]", "findings": [
        {"scanner": "pii", "type": "email", "start": 5, "end": 11, "score": 1.0}]}
    assert out[2]["decision"] == "block" and GH not in json.dumps(out[2])
    assert out[2]["findings"] == [{"scanner": "secrets", "type": "github_token", "start": 4, "end": 44,
                                   "score": 1.0}]


def test_bad_lines_are_json_errors(registry: ScannerRegistry) -> None:
    code, out, _ = scan(registry, ["not json", "", json.dumps([1]), json.dumps({"text": 3}), '{"text": "ok"}'])
    assert code == 1
    assert [o.get("line") for o in out[:3]] == [1, 3, 4]
    assert all("error" in o for o in out[:3]) and out[3]["decision"] == "allow"


def test_config_policy_and_direction(registry: ScannerRegistry, tmp_path: Path) -> None:
    cfg = tmp_path / "bastion.yaml"
    cfg.write_text("providers:\n  x: {kind: openai, base_url: 'https://x', api_key: '${env:UNSET_FOR_SURE}'}\n"
                   "policies:\n  audit:\n    input: [{scanner: regex, action: flag, patterns: {ticket: 'T-\\d+'}}]\n"
                   "    output: [{scanner: pii, action: redact}]\n")
    code, out, _ = scan(registry, ['{"text": "see T-42"}'], "--config", str(cfg), "--policy", "audit")
    assert code == 0 and out[0]["decision"] == "flag" and out[0]["findings"][0]["type"] == "ticket"
    code, out, _ = scan(registry, ['{"text": "a@b.io"}'], "--config", str(cfg), "--policy", "audit",
                        "--direction", "output")
    assert out[0]["decision"] == "redact"


def test_config_errors_go_to_stderr(registry: ScannerRegistry, tmp_path: Path) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("policies:\n  p:\n    input: [{scanner: pii, types: [passport]}]\n")
    code, out, err = scan(registry, ['{"text": "x"}'], "--config", str(cfg), "--policy", "p")
    assert code == 2 and out == [] and "policies.p.input[0].types" in err
    code, _, err = scan(registry, ['{"text": "x"}'], "--policy", "missing")
    assert code == 2 and "unknown policy 'missing'" in err
    code, _, err = scan(registry, [], "--config", str(tmp_path / "absent.yaml"))
    assert code == 2 and "cannot read" in err


def test_lines_that_are_not_utf8_or_unicode_are_errors(registry: ScannerRegistry,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    # real stdin bytes: whatever the locale's error handler, a bad line is reported by number
    raw = b'{"text": "ok"}\n{"text": "caf\xe9"}\n{"text": "a\\ud800b"}\n{"text": "caf\xc3\xa9"}\n'
    stdin = io.TextIOWrapper(io.BytesIO(raw), encoding="utf-8", errors="strict")
    monkeypatch.setattr(sys, "stdin", stdin)
    out, err = io.StringIO(), io.StringIO()
    code = run(parse(), None, out, err, registry)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert code == 1
    assert lines[0]["decision"] == "allow"
    assert lines[1] == {"line": 2, "error": "not valid UTF-8: byte 0xe9 at character 14"}
    assert lines[2]["line"] == 3 and "lone surrogate" in lines[2]["error"]
    assert lines[3] == {"decision": "allow", "findings": [], "redacted": "café"}
    out.getvalue().encode("utf-8")  # the output itself is valid UTF-8
