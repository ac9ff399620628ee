"""From a request and a `Reply` to a `Plan`: route table, the real APIs' checks, vendor rendering."""

from __future__ import annotations

from tests.fakes import anthropic_wire, openai_wire
from tests.fakes.content import build_content
from tests.fakes.plan import Plan, json_plan, raw_plan
from tests.fakes.recording import RecordedRequest
from tests.fakes.reply import ErrorSpec, Reply

_PATHS = {
    ("POST", "/v1/chat/completions"): "openai.chat",
    ("POST", "/v1/embeddings"): "openai.embeddings",
    ("GET", "/v1/models"): "openai.models",
    ("POST", "/v1/messages"): "anthropic.messages",
}


def route_for(method: str, path: str) -> str | None:
    """The route name for a request line, or None (answered 404)."""
    return _PATHS.get((method, path))


def speaks_anthropic(route: str | None, headers: dict[str, str]) -> bool:
    """Anthropic's formats for /v1/messages, and for shared or unknown paths sent with `anthropic-version`."""
    return route == "anthropic.messages" or (route != "openai.chat" and "anthropic-version" in headers)


def gate(
    route: str | None, record: RecordedRequest, anthropic: bool, api_key: str | None, validate: bool
) -> Plan | None:
    """The vendor's 404 / 401 / 400 for requests the real API would refuse, or None to answer."""
    wire = anthropic_wire if anthropic else openai_wire

    def refuse(status: int, message: str) -> Plan:
        return json_plan(status, wire.error_body(ErrorSpec(status, message)))

    if route is None:
        return refuse(404, f"Unknown request URL: {record.method} {record.path}.")
    if api_key is not None:
        bearer = record.headers.get("authorization") == f"Bearer {api_key}"
        if not (bearer or (anthropic and record.headers.get("x-api-key") == api_key)):
            return refuse(401, "invalid x-api-key" if anthropic else "Incorrect API key provided.")
    if validate and route != "openai.models":
        problem = (
            anthropic_wire.validation_error(record.json, record.headers)
            if anthropic
            else openai_wire.validation_error(record.json, route)
        )
        if problem:
            return refuse(400, problem)
    return None


def render(
    route: str, reply: Reply, record: RecordedRequest, anthropic: bool, models: list[str], dimensions: int
) -> Plan:
    """The reply in the route's wire format (see `Reply` for the priority of its fields)."""
    streamed = record.stream and route in ("openai.chat", "anthropic.messages")
    wire = anthropic_wire if anthropic else openai_wire
    if reply.raw is not None:
        raw = reply.raw if isinstance(reply.raw, bytes) else list(reply.raw)
        plan = raw_plan(reply.status, raw, streamed, {})
    elif reply.json is not None:
        plan = json_plan(reply.status, reply.json)
    elif reply.error_spec is not None and (reply.error_after_chunks is None or not streamed):
        spec = reply.error_spec
        body = anthropic_wire.error_body(spec, record.number) if anthropic else openai_wire.error_body(spec)
        plan = json_plan(spec.status, body)
    elif route == "openai.models":
        plan = json_plan(reply.status, wire.models_body(models))
    elif route == "openai.embeddings":
        plan = openai_wire.embeddings_plan(reply, record.json, dimensions)
    else:
        content = build_content(reply, record.json)
        if anthropic:
            plan = anthropic_wire.message_plan(reply, content, record.number, streamed)
        else:
            plan = openai_wire.chat_plan(reply, record.json, content, record.number, streamed)
        if reply.error_spec is not None:
            plan.error_frame = wire.error_frame(reply.error_spec)
    plan.headers.setdefault("request-id" if anthropic else "x-request-id", f"req_fake{record.number:06d}")
    plan.headers.update({k.lower(): v for k, v in reply.headers.items()})
    return plan
