"""A rule's `roles`: which parts of a request an input rule reads (default: every text a model reads)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bastion.config.loader import ConfigError
from bastion.config.policy import TEXT_SOURCES, PolicyConfig
from bastion.core.context import RequestContext
from bastion.core.types import EmbeddingsRequest
from bastion.policy.engine import PolicyEngine
from bastion.policy.registry import ScannerRegistry
from bastion.policy.slots import text_slots
from tests.unit.policy.test_cli_scan import scan
from tests.unit.policy.test_engine import full_request

EMAIL_RULE = {"scanner": "pii", "action": "redact", "types": ["email"]}


def engine(registry: ScannerRegistry, *rules: dict[str, Any]) -> PolicyEngine:
    return PolicyEngine("p", PolicyConfig.model_validate({"input": list(rules)}), registry)


def test_every_text_has_its_source() -> None:
    by_part = {s.where.split(".")[0]: s.source for s in text_slots(full_request())}
    assert by_part == {"system[0]": "system", "messages[0]": "developer", "messages[1]": "user",
                       "messages[2]": "assistant", "messages[3]": "tool", "tools[0]": "tool_definitions",
                       "response_format": "response_format"}
    assert len({s.source for s in text_slots(full_request()) if s.where.startswith("tools[0]")}) == 1
    assert {s.source for s in text_slots(EmbeddingsRequest("m", ["a", "b"]))} == {"embeddings_input"}
    assert set(by_part.values()) | {"embeddings_input"} == set(TEXT_SOURCES)


@pytest.mark.parametrize("roles", [["user"], ["tool", "assistant"], ["system", "developer"],
                                   ["tool_definitions", "response_format"], list(TEXT_SOURCES)])
def test_a_rule_reads_only_its_roles(registry: ScannerRegistry, roles: list[str]) -> None:
    req = full_request()
    before = {s.where: (s.source, s.text) for s in text_slots(req)}
    c = RequestContext(request_id="r", ingress="openai")
    engine(registry, {**EMAIL_RULE, "roles": roles}).scan_request(c, req)
    after = {s.where: s.text for s in text_slots(req)}
    mails = {where: (source, text) for where, (source, text) in before.items() if "@" in text}
    assert len(mails) == 9
    for where, (source, text) in mails.items():
        assert (after[where] != text) == (source in roles), where  # redacted exactly where the rule reads
    assert len(c.findings) == sum(source in roles for source, _ in mails.values())


def test_rules_without_roles_still_read_everything(registry: ScannerRegistry) -> None:
    e = engine(registry, {**EMAIL_RULE, "roles": ["user"]}, {"scanner": "keywords", "action": "flag",
                                                             "words": ["io"]})
    c = RequestContext(request_id="r", ingress="openai")
    e.scan_request(c, full_request())
    assert sum(f.scanner == "keywords" for f in c.findings) == 9
    assert sum(f.scanner == "pii" for f in c.findings) == 1
    plain = engine(registry, EMAIL_RULE)
    assert all(plain.rules_for(src) is plain.input_rules for src in TEXT_SOURCES)  # no per-role tables


@pytest.mark.parametrize(("raw", "error"), [
    ({"input": [{"scanner": "pii", "roles": ["admin"]}]}, "policies.p.input[0].roles[0]: Input should be 'system'"),
    ({"input": [{"scanner": "pii", "roles": []}]}, "policies.p.input[0].roles: List should have at least 1 item"),
    ({"input": [{"scanner": "pii", "roles": "user"}]}, "policies.p.input[0].roles: Input should be a valid list"),
    ({"output": [{"scanner": "pii", "roles": ["user"]}]}, "policies.p.output[0].roles: only input rules"),
    ({"input": [{"scanner": "limits", "max_messages": 2, "roles": ["user"]}]},
     "policies.p.input[0].roles: limits apply to the whole request"),
])
def test_bad_roles_name_the_field(raw: dict[str, Any], error: str) -> None:
    from bastion.config.loader import parse_config
    from bastion.policy.selection import PolicySet

    with pytest.raises(ConfigError) as e:
        PolicySet(parse_config({"policies": {"p": raw}}).policies)
    assert any(err.startswith(error) for err in e.value.errors), e.value.errors


def test_cli_scan_takes_a_role(registry: ScannerRegistry, tmp_path: Any) -> None:
    cfg = tmp_path / "p.yaml"
    cfg.write_text("policies:\n  default:\n    input:\n      - {scanner: pii, action: redact, types: [email], "
                   "roles: [tool]}\n")
    line = json.dumps({"text": "mail a@b.io"})
    _, out, _ = scan(registry, [line, json.dumps({"text": "mail a@b.io", "role": "tool"}),
                                json.dumps({"text": "x", "role": "boss"})], "--config", str(cfg))
    assert [o.get("decision") for o in out] == ["allow", "redact", None]
    assert "role" in out[2]["error"]
    code, out, _ = scan(registry, [line], "--config", str(cfg), "--role", "tool")
    assert code == 0 and out[0]["redacted"] == "mail [EMAIL_1]"


def test_per_role_thresholds_share_one_detector() -> None:
    """Two injection rules (a stricter one for tool results) build the detector once; each keeps
    its own threshold."""
    from bastion.policy.registry import default_registry
    from bastion.policy.scanners.injection import InjectionScanner

    e = engine(default_registry(), {"scanner": "injection", "action": "flag", "threshold": 1.0, "roles": ["user"]},
               {"scanner": "injection", "action": "flag", "threshold": 0.0, "roles": ["tool"]})
    user, tool = (r.scanner for r in e.input_rules)
    assert isinstance(user, InjectionScanner) and isinstance(tool, InjectionScanner)
    assert user._detector is tool._detector is InjectionScanner()._detector
    assert InjectionScanner(rules=False)._detector is not user._detector
    c = RequestContext(request_id="r", ingress="openai")
    e.scan_request(c, full_request())
    # threshold 0.0: every tool text is reported (its classifier window at least); 1.0: no user text is
    assert [f.direction for f in c.findings] == ["input"] and c.findings[0].scanner == "injection"
