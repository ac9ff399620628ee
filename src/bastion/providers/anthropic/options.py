"""Messages request options beside the conversation: output_config, service tier, speed, region, automatic caching.

Decoding (client → canonical), strictly validated with the field's path:
- `output_config.format` (`{"type": "json_schema", "schema": {...}}`) becomes the canonical
  `response_format` in OpenAI's json_schema form, named OUTPUT_FORMAT_NAME and strict: the input
  policy scans its schema like any response_format, and OpenAI-format upstreams receive it as is.
- `output_config.effort`, `service_tier`, `speed`, `inference_geo` and the top-level
  `cache_control` go to `extra` (`effort` is also sent to OpenAI-format upstreams as
  `reasoning_effort`; the others reach Anthropic upstreams only). `inference_geo` is a string that
  reaches the provider: besides its shape check, the input policy scans it (policy/slots.py).
- Known parameters Bastion does not support are refused with the reason (REFUSED).

Encoding (canonical → Anthropic upstream): a json_schema response_format becomes
`output_config.format` (its name, description and strict flag have no Anthropic field: Anthropic
always enforces the schema); a json_object one is refused (Anthropic constrains output only to a
schema). `metadata.user_id` is an OpenAI client's `safety_identifier`, else `user`.
"""

from __future__ import annotations

import re

from bastion.core.errors import InvalidRequest
from bastion.core.types import JSON, ChatRequest, JSONObject
from bastion.providers.anthropic.cache import Breakpoints, cache_control
from bastion.providers.anthropic.fields import obj, only_keys, required, string

REFUSED = {
    "container": "code-execution containers are not supported by Bastion (server tools are refused)",
    "context_management": "server-side context editing is not supported by Bastion (it changes the "
                          "conversation after the input policy scanned it)",
    "mcp_servers": "MCP servers are not supported by Bastion (the provider would read text no scanner sees)",
    "diagnostics": "request diagnostics are not supported by Bastion (they are not carried back to the client)",
}
"""Known Messages API parameters that are not supported, with the reason the client gets."""

OUTPUT_FORMAT_NAME = "structured_output"
"""The json_schema `name` an OpenAI-format upstream receives for an Anthropic `output_config.format`
(OpenAI requires a name, `[A-Za-z0-9_-]{1,64}`; Anthropic has none)."""

EFFORTS = ("low", "medium", "high", "xhigh", "max")
_GEO = re.compile(r"[a-z][a-z0-9-]{0,31}")
# extra keys of an Anthropic-ingress request passed to an Anthropic upstream as top-level fields
_PASSED = ("service_tier", "speed", "inference_geo", "cache_control")


def refuse_known(body: JSONObject) -> None:
    for key in body:
        if key in REFUSED:
            raise InvalidRequest(f"{key}: unsupported parameter: {REFUSED[key]}", param=key)


def _enum(value: JSON, path: str, allowed: tuple[str, ...]) -> str:
    text = string(value, path)
    if text not in allowed:
        raise InvalidRequest(f"{path}: must be one of {', '.join(allowed)}", param=path)
    return text


def decode_output_config(raw: JSON, req: ChatRequest) -> None:
    oc = obj(raw, "output_config")
    only_keys(oc, ("format", "effort"), "output_config", "output_config")
    if (fmt := oc.get("format")) is not None:
        path = "output_config.format"
        f = obj(fmt, path)
        only_keys(f, ("type", "schema"), path, path)
        _enum(required(f, "type", path), f"{path}.type", ("json_schema",))
        schema = obj(required(f, "schema", path), f"{path}.schema")
        req.response_format = {"type": "json_schema",
                               "json_schema": {"name": OUTPUT_FORMAT_NAME, "schema": schema, "strict": True}}
    if (effort := oc.get("effort")) is not None:
        req.extra["effort"] = _enum(effort, "output_config.effort", EFFORTS)


def decode_options(body: JSONObject, req: ChatRequest, bp: Breakpoints) -> None:
    """The non-text request options; call after every other cache breakpoint was read (the
    top-level one is the last in prompt order: Anthropic puts it on the last cacheable block)."""
    if (tier := body.get("service_tier")) is not None:
        req.extra["service_tier"] = _enum(tier, "service_tier", ("auto", "standard_only"))
    if (speed := body.get("speed")) is not None:
        req.extra["speed"] = _enum(speed, "speed", ("standard", "fast"))
    if (geo := body.get("inference_geo")) is not None:
        if not _GEO.fullmatch(string(geo, "inference_geo")):
            raise InvalidRequest("inference_geo: expected a region name such as 'us' or 'global' (lowercase "
                                 "letters, digits and '-', at most 32)", param="inference_geo")
        req.extra["inference_geo"] = geo
    if (hint := bp.read(body, "")) is not None:
        req.extra["cache_control"] = cache_control(hint)


def output_format(response_format: JSONObject | None) -> JSONObject | None:
    """Anthropic's `output_config.format` for a canonical response_format (None: free text)."""
    kind = None if response_format is None else response_format.get("type")
    if response_format is None or kind == "text":
        return None
    if kind != "json_schema":
        raise InvalidRequest("response_format of type json_object is not supported by anthropic providers: "
                             "Anthropic constrains output only to a JSON schema (send type json_schema, "
                             "which becomes output_config.format)", param="response_format.type")
    spec = response_format.get("json_schema")
    schema = spec.get("schema") if isinstance(spec, dict) else None
    if not isinstance(schema, dict):
        raise InvalidRequest("response_format.json_schema.schema is required by anthropic providers",
                             param="response_format.json_schema.schema")
    return {"type": "json_schema", "schema": schema}


def encode_options(req: ChatRequest, body: JSONObject) -> None:
    """Sets the option fields of an Anthropic upstream body."""
    config: JSONObject = {}
    if (fmt := output_format(req.response_format)) is not None:
        config["format"] = fmt
    user_id = req.user
    if req.ingress == "anthropic":
        if "effort" in req.extra:
            config["effort"] = req.extra["effort"]
        body.update((k, req.extra[k]) for k in _PASSED if k in req.extra)
    elif isinstance(safety_id := req.extra.get("safety_identifier"), str):
        user_id = safety_id  # OpenAI's replacement of `user` for abuse detection: the same purpose
    if config:
        body["output_config"] = config
    if user_id:
        body["metadata"] = {"user_id": user_id}
