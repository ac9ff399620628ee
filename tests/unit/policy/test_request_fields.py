"""Every text of a request that reaches the provider is scanned: names, ids, schema keys, image
URLs, `stop`, `user` and `metadata` (red-team findings; before, these went upstream unscanned)."""

from __future__ import annotations

import pytest

from bastion.config.policy import PolicyConfig
from bastion.core.context import RequestContext
from bastion.core.errors import PolicyViolation
from bastion.core.types import (
    ChatRequest,
    EmbeddingsRequest,
    ImagePart,
    Message,
    TextPart,
    ToolCall,
    ToolChoice,
    ToolDef,
)
from bastion.policy.engine import PolicyEngine
from bastion.policy.registry import ScannerRegistry
from bastion.providers.anthropic import ANTHROPIC
from tests.unit.policy.fake_credentials import SECRETS

GH = SECRETS["github_token"][1]


def _engine(registry: ScannerRegistry, *rules: dict[str, object]) -> PolicyEngine:
    return PolicyEngine("p", PolicyConfig.model_validate({"input": list(rules)}), registry)


def _ctx() -> RequestContext:
    return RequestContext(request_id="r", ingress="openai")


def _req(**kw: object) -> ChatRequest:
    return ChatRequest(model="m", messages=[Message("user", [TextPart("hi")])], **kw)  # type: ignore[arg-type]


CASES = {
    "tool_name": lambda: _req(tools=[ToolDef(f"t {GH}")]),
    "schema_key": lambda: _req(tools=[ToolDef("f", None, {"properties": {f"k {GH}": {"type": "string"}}})]),
    "response_format_key": lambda: _req(response_format={"schema": {"properties": {GH: {}}}}),
    "tool_choice": lambda: _req(tools=[ToolDef("f")], tool_choice=ToolChoice("tool", GH)),
    "call_name": lambda: ChatRequest(model="m", messages=[Message("assistant", [], tool_calls=[
        ToolCall("c1", GH, "{}")])]),
    "call_id": lambda: ChatRequest(model="m", messages=[Message("assistant", [], tool_calls=[
        ToolCall(GH, "f", "{}")])]),
    "tool_call_id": lambda: ChatRequest(model="m", messages=[Message("tool", [TextPart("ok")], tool_call_id=GH)]),
    "image_url": lambda: ChatRequest(model="m", messages=[Message("user", [ImagePart(url=f"https://x.io/{GH}")])]),
    "image_media_type": lambda: ChatRequest(model="m", messages=[Message("user", [
        ImagePart(media_type=f"image/{GH}", data="AAAA")])]),
    "stop": lambda: _req(stop=["END", f"s {GH}"]),
    "user": lambda: _req(user=GH),
    "metadata_value": lambda: _req(extra={"metadata": {"k": GH}}),
    "metadata_key": lambda: _req(extra={"metadata": {GH: "v"}}),
    "embeddings_user": lambda: EmbeddingsRequest(model="m", input=["hi"], user=GH),
    "prompt_cache_key": lambda: _req(extra={"prompt_cache_key": GH}),
    "safety_identifier": lambda: _req(extra={"safety_identifier": f"id {GH}"}),
    "inference_geo": lambda: _req(extra={"inference_geo": GH}, ingress="anthropic"),
    "anthropic_output_schema_key": lambda: ANTHROPIC.decode_request({
        "model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}],
        "output_config": {"format": {"type": "json_schema", "schema": {"properties": {GH: {}}}}}}),
    "anthropic_output_schema_value": lambda: ANTHROPIC.decode_request({
        "model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}],
        "output_config": {"format": {"type": "json_schema", "schema": {"enum": ["a", f"x {GH}"]}}}}),
}


@pytest.mark.parametrize("where", sorted(CASES))
def test_a_secret_in_any_field_that_reaches_the_provider_blocks(registry: ScannerRegistry, where: str) -> None:
    engine = _engine(registry, {"scanner": "secrets", "action": "block"})
    with pytest.raises(PolicyViolation) as e:
        engine.scan_request(_ctx(), CASES[where]())
    assert "github_token" in e.value.message and GH not in e.value.message and GH[4:20] not in e.value.message


def test_schema_keys_are_renamed_in_place_in_order_and_values_inside_them_redacted(registry: ScannerRegistry) -> None:
    engine = _engine(registry, {"scanner": "pii", "action": "redact", "types": ["email"]})
    params = {"type": "object", "properties": {"a": {"type": "string"},
                                                "jane@x.io": {"type": "string", "description": "to jane@x.io"},
                                                "z": {"type": "integer"}},
              "required": ["jane@x.io"]}
    req = _req(tools=[ToolDef("f", None, params)])
    engine.scan_request(_ctx(), req)
    props = req.tools[0].parameters["properties"]
    assert isinstance(props, dict)
    assert list(props) == ["a", "[EMAIL_1]", "z"]
    assert props["[EMAIL_1]"] == {"type": "string", "description": "to [EMAIL_1]"}
    assert req.tools[0].parameters["required"] == ["[EMAIL_1]"]
    assert "jane@x.io" not in repr(req)


def test_a_block_location_never_shows_a_key(registry: ScannerRegistry) -> None:
    """A property name is client text: a block names its position, not the key."""
    engine = _engine(registry, {"scanner": "secrets", "action": "block"})
    req = _req(tools=[ToolDef("f", None, {"properties": {"a": {}, f"k {GH}": {"description": "d"}}})])
    with pytest.raises(PolicyViolation) as e:
        engine.scan_request(_ctx(), req)
    assert "tools[0].parameters.properties.<keys>" in e.value.message and GH not in e.value.message
    req = _req(tools=[ToolDef("f", None, {"properties": {"a": {}, f"k {GH}": {"description": f"d {GH}"}}})])
    with pytest.raises(PolicyViolation) as e:
        engine.scan_request(_ctx(), req)
    assert "tools[0].parameters.properties.<key 1>.description" in e.value.message and GH not in e.value.message


def test_a_redaction_across_two_property_names_is_refused(registry: ScannerRegistry) -> None:
    """Keys are scanned as one text, a line each: a finding that spans two keys cannot rename them."""
    from bastion.core.errors import InvalidRequest

    engine = _engine(registry, {"scanner": "regex", "action": "redact", "patterns": {"pair": "a\nb"}})
    req = _req(tools=[ToolDef("f", None, {"properties": {"a": {}, "b": {}}})])
    with pytest.raises(InvalidRequest):
        engine.scan_request(_ctx(), req)


def test_names_ids_stop_and_user_are_redacted_consistently(registry: ScannerRegistry) -> None:
    engine = _engine(registry, {"scanner": "pii", "action": "redact", "types": ["email"]})
    req = ChatRequest(model="m", messages=[
        Message("assistant", [], tool_calls=[ToolCall("id a@b.io", "f", "{}")]),
        Message("tool", [TextPart("ok")], tool_call_id="id a@b.io")],
        stop=["bye c@d.io"], user="c@d.io", extra={"metadata": {"owner": "c@d.io"}})
    engine.scan_request(_ctx(), req)
    assert req.messages[0].tool_calls[0].id == req.messages[1].tool_call_id == "id [EMAIL_1]"
    assert req.stop == ["bye [EMAIL_2]"] and req.user == "[EMAIL_2]"
    assert req.extra["metadata"] == {"owner": "[EMAIL_2]"}


def test_cache_key_and_safety_identifier_are_redacted_in_place(registry: ScannerRegistry) -> None:
    """What the provider receives is the redacted value: the encoders read these fields after the scan."""
    engine = _engine(registry, {"scanner": "pii", "action": "redact", "types": ["email"]})
    req = _req(extra={"prompt_cache_key": "team:c@d.io", "safety_identifier": "c@d.io", "store": True})
    engine.scan_request(_ctx(), req)
    assert req.extra == {"prompt_cache_key": "team:[EMAIL_1]", "safety_identifier": "[EMAIL_1]", "store": True}


def test_role_limited_rules_skip_request_fields(registry: ScannerRegistry) -> None:
    """A rule limited to some roles does not read `user`, ids or stop sequences; one without does."""
    limited = _engine(registry, {"scanner": "secrets", "action": "block", "roles": ["user"]})
    req = _req(user=GH, stop=[GH])
    limited.scan_request(_ctx(), req)
    assert req.user == GH
    with pytest.raises(PolicyViolation):
        _engine(registry, {"scanner": "secrets", "action": "block", "roles": ["user"]},
                {"scanner": "secrets", "action": "block"}).scan_request(_ctx(), _req(user=GH))


@pytest.mark.parametrize("url", ["http://203.0.113.7/camera/snapshot.jpg", "https://203.0.113.7:8443/a.png?x=1",
                                 "http://[2001:db8::7]/cam.jpg"])
def test_an_image_urls_host_is_not_redacted(registry: ScannerRegistry, url: str) -> None:
    """The provider fetches the image from that host: `http://[IP_ADDRESS_1]/...` is no URL (the
    upstream refuses the request), and the provider learns the host by fetching it anyway."""
    engine = _engine(registry, {"scanner": "pii", "action": "redact"})
    req = ChatRequest(model="m", messages=[Message("user", [ImagePart(url=url)])])
    engine.scan_request(_ctx(), req)
    part = req.messages[0].content[0]
    assert isinstance(part, ImagePart) and part.url == url


def test_an_image_urls_path_and_query_are_still_redacted(registry: ScannerRegistry) -> None:
    engine = _engine(registry, {"scanner": "pii", "action": "redact"})
    req = ChatRequest(model="m", messages=[Message("user", [ImagePart(
        url="https://203.0.113.7/avatar?ip=198.51.100.9")])])
    engine.scan_request(_ctx(), req)
    part = req.messages[0].content[0]
    assert isinstance(part, ImagePart)
    assert part.url == "https://203.0.113.7/avatar?ip=[IP_ADDRESS_1]"
