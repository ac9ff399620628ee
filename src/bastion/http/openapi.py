"""The OpenAPI 3.1 description of Bastion's client API, served at GET /openapi.json behind a key.

It describes what the gateway accepts and answers (OpenAI- and Anthropic-compatible routes,
the health allow-list), not every field the vendors define: unknown fields are refused (400),
so the request schemas close their objects. The fuzzing test (schemathesis) runs against this
document, which keeps it true. The admin API (/admin/*, a separate credential) is not in it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from bastion.core.context import RequestContext
from bastion.http.api import key_first
from bastion.http.types import HttpRequest, HttpResponse
from bastion.pipeline.runner import Pipeline

Schema = dict[str, Any]


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _obj(props: Schema, required: Sequence[str] = (), closed: bool = True) -> Schema:
    out: Schema = {"type": "object", "properties": props}
    if required:
        out["required"] = list(required)
    if closed:
        out["additionalProperties"] = False
    return out


_STR = {"type": "string"}
_TEXT = {"type": "string", "minLength": 1}
_JSON_OBJECT = {"type": "object"}

_OPENAI_PART = {"oneOf": [
    _obj({"type": {"const": "text"}, "text": _STR}, ["type", "text"]),
    _obj({"type": {"const": "image_url"},
          "image_url": _obj({"url": _TEXT, "detail": {"enum": ["auto", "low", "high"]}}, ["url"])},
         ["type", "image_url"]),
]}
_OPENAI_TOOL_CALL = _obj({"id": _TEXT, "type": {"const": "function"},
                          "function": _obj({"name": _TEXT, "arguments": _STR}, ["name", "arguments"])},
                         ["id", "type", "function"])
_OPENAI_MESSAGE = _obj({
    "role": {"enum": ["system", "developer", "user", "assistant", "tool"]},
    "content": {"oneOf": [_STR, {"type": "array", "items": _OPENAI_PART}, {"type": "null"}]},
    "name": _STR,
    "tool_calls": {"type": "array", "items": _OPENAI_TOOL_CALL},
    "tool_call_id": _TEXT,
}, ["role"])
_OPENAI_TOOL = _obj({"type": {"const": "function"},
                     "function": _obj({"name": _TEXT, "description": _STR, "parameters": _JSON_OBJECT,
                                       "strict": {"type": "boolean"}}, ["name"])}, ["type", "function"])

CHAT_REQUEST = _obj({
    "model": _TEXT,
    "messages": {"type": "array", "minItems": 1, "items": _OPENAI_MESSAGE},
    "tools": {"type": "array", "items": _OPENAI_TOOL},
    "tool_choice": {"oneOf": [{"enum": ["none", "auto", "required"]},
                              _obj({"type": {"const": "function"}, "function": _obj({"name": _TEXT}, ["name"])},
                                   ["type", "function"])]},
    "parallel_tool_calls": {"type": "boolean"},
    "response_format": _obj({"type": {"enum": ["text", "json_object"]}}, ["type"]),
    "stop": {"oneOf": [_STR, {"type": "array", "maxItems": 4, "items": _STR}]},
    "max_tokens": {"type": "integer", "minimum": 1},
    "max_completion_tokens": {"type": "integer", "minimum": 1},
    "temperature": {"type": "number", "minimum": 0, "maximum": 2},
    "top_p": {"type": "number", "minimum": 0, "maximum": 1},
    "seed": {"type": "integer"},
    "user": _STR,
    "n": {"type": "integer", "minimum": 1, "maximum": 128},
    "stream": {"type": "boolean"},
    "stream_options": _obj({"include_usage": {"type": "boolean"}}),
    "frequency_penalty": {"type": "number", "minimum": -2, "maximum": 2},
    "presence_penalty": {"type": "number", "minimum": -2, "maximum": 2},
    "logprobs": {"type": "boolean"},
    "top_logprobs": {"type": "integer", "minimum": 0, "maximum": 20},
    "prompt_cache_key": {"type": "string", "minLength": 1, "maxLength": 64},
    "safety_identifier": {"type": "string", "minLength": 1, "maxLength": 128},
    "prompt_cache_retention": {"enum": ["in_memory", "24h"]},
    "prompt_cache_options": _obj({"mode": {"enum": ["implicit", "explicit"]}, "ttl": {"enum": ["30m"]}}),
}, ["model", "messages"])

_ANTHROPIC_BLOCK = {"oneOf": [
    _obj({"type": {"const": "text"}, "text": _STR}, ["type", "text"]),
    _obj({"type": {"const": "tool_use"}, "id": _TEXT, "name": _TEXT, "input": _JSON_OBJECT},
         ["type", "id", "name", "input"]),
    _obj({"type": {"const": "tool_result"}, "tool_use_id": _TEXT, "content": _STR, "is_error": {"type": "boolean"}},
         ["type", "tool_use_id"]),
]}
MESSAGES_REQUEST = _obj({
    "model": _TEXT,
    "max_tokens": {"type": "integer", "minimum": 1},
    "messages": {"type": "array", "minItems": 1, "items": _obj({
        "role": {"enum": ["user", "assistant"]},
        "content": {"oneOf": [_STR, {"type": "array", "items": _ANTHROPIC_BLOCK}]}}, ["role", "content"])},
    "system": {"oneOf": [_STR, {"type": "array", "items": _obj({"type": {"const": "text"}, "text": _STR},
                                                                ["type", "text"])}]},
    "temperature": {"type": "number", "minimum": 0, "maximum": 1},
    "top_p": {"type": "number", "minimum": 0, "maximum": 1},
    "top_k": {"type": "integer", "minimum": 0},
    "stop_sequences": {"type": "array", "items": _STR},
    "stream": {"type": "boolean"},
    "tools": {"type": "array", "items": _obj({"name": _TEXT, "description": _STR, "input_schema": _JSON_OBJECT},
                                             ["name", "input_schema"])},
    "tool_choice": _obj({"type": {"enum": ["auto", "any", "none"]}}, ["type"]),
    "metadata": _obj({"user_id": _STR}),
    "output_config": _obj({"format": _obj({"type": {"const": "json_schema"}, "schema": _JSON_OBJECT},
                                          ["type", "schema"]),
                           "effort": {"enum": ["low", "medium", "high", "xhigh", "max"]}}),
    "service_tier": {"enum": ["auto", "standard_only"]},
    "speed": {"enum": ["standard", "fast"]},
    "inference_geo": {"type": "string", "pattern": "^[a-z][a-z0-9-]{0,31}$"},
    "cache_control": _obj({"type": {"const": "ephemeral"}, "ttl": {"enum": ["5m", "1h"]}}, ["type"]),
}, ["model", "max_tokens", "messages"])

EMBEDDINGS_REQUEST = _obj({
    "model": _TEXT,
    "input": {"oneOf": [_TEXT, {"type": "array", "minItems": 1, "items": _TEXT}]},
    "dimensions": {"type": "integer", "minimum": 1},
    "encoding_format": {"enum": ["float", "base64"]},
    "user": _STR,
}, ["model", "input"])

_OPENAI_ERROR = _obj({"error": _obj({"message": _STR, "type": _STR, "param": {"type": ["string", "null"]},
                                     "code": {"type": ["string", "null"]}}, ["message", "type"], closed=False)},
                     ["error"], closed=False)
_ANTHROPIC_ERROR = _obj({"type": {"const": "error"}, "error": _obj({"type": _STR, "message": _STR},
                                                                   ["type", "message"], closed=False)},
                        ["type", "error"], closed=False)
_SCHEMAS: Schema = {
    "ChatCompletionRequest": CHAT_REQUEST,
    "MessagesRequest": MESSAGES_REQUEST,
    "EmbeddingsRequest": EMBEDDINGS_REQUEST,
    "ChatCompletion": _obj({"id": _STR, "object": {"const": "chat.completion"}, "model": _STR,
                            "choices": {"type": "array"}, "usage": _JSON_OBJECT},
                           ["id", "object", "choices"], closed=False),
    "Message": _obj({"id": _STR, "type": {"const": "message"}, "role": {"const": "assistant"},
                     "content": {"type": "array"}, "usage": _JSON_OBJECT},
                    ["id", "type", "role", "content"], closed=False),
    "EmbeddingsList": _obj({"object": {"const": "list"}, "data": {"type": "array"}}, ["object", "data"],
                           closed=False),
    "ModelList": _obj({"object": {"const": "list"}, "data": {"type": "array", "items": _obj(
        {"id": _STR, "object": {"const": "model"}}, ["id", "object"], closed=False)}}, ["object", "data"],
        closed=False),
    "OpenAIError": _OPENAI_ERROR,
    "AnthropicError": _ANTHROPIC_ERROR,
    "Health": _obj({"status": _STR}, ["status"], closed=False),
}

_ERRORS = {
    "400": "Invalid request: the message names the field.",
    "401": "Missing, unknown, revoked or expired key.",
    "403": "The key may not use this model.",
    "404": "Unknown model or route.",
    "408": "The request body was not received in time.",
    "413": "Request body too large.",
    "429": "Rate limit or budget reached, or too many failed authentications (see Retry-After).",
    "431": "Request headers too large.",
    "502": "The provider failed.",
    "503": "Provider unavailable, circuit open, or the gateway at capacity (see Retry-After).",
    "504": "The provider timed out.",
}


def _errors(schema: str, codes: Sequence[str] = tuple(_ERRORS)) -> Schema:
    body = {"application/json": {"schema": _ref(schema)}}
    return {c: {"description": _ERRORS[c], "content": body} for c in codes}


def _post(summary: str, request: str, ok: str, error: str, streams: bool) -> Schema:
    ok_content: Schema = {"application/json": {"schema": _ref(ok)}}
    if streams:
        ok_content["text/event-stream"] = {"schema": _STR}
    return {"post": {
        "summary": summary,
        "requestBody": {"required": True, "content": {"application/json": {"schema": _ref(request)}}},
        "responses": {"200": {"description": "Success (an SSE stream when `stream` is true).",
                              "content": ok_content}, **_errors(error)},
    }}


def build_openapi(chat_models: Sequence[str], embeddings_models: Sequence[str], version: str) -> Schema:
    """The document for a key that may use these models: they are the `model` field's values
    (any other name is answered 403 or 404, as documented)."""
    schemas = orjson.loads(orjson.dumps(_SCHEMAS))  # a private copy to specialise
    for name, models in (("ChatCompletionRequest", chat_models), ("MessagesRequest", chat_models),
                         ("EmbeddingsRequest", embeddings_models)):
        if models:
            schemas[name]["properties"]["model"] = {"enum": sorted(models)}
    health_get = {"get": {"security": [], "responses": {
        "200": {"description": "OK", "content": {"application/json": {"schema": _ref("Health")}}},
        "503": {"description": "Not ready (store unreachable).",
                "content": {"application/json": {"schema": _ref("Health")}}}}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "Bastion LLM gateway", "version": version,
                 "description": "OpenAI- and Anthropic-compatible API. Authenticate with a virtual key as "
                                "`Authorization: Bearer <key>` or `x-api-key: <key>`."},
        "security": [{"bearer": []}, {"apiKey": []}],
        "paths": {
            "/v1/chat/completions": _post("OpenAI chat completions", "ChatCompletionRequest", "ChatCompletion",
                                          "OpenAIError", streams=True),
            "/v1/messages": _post("Anthropic Messages", "MessagesRequest", "Message", "AnthropicError",
                                  streams=True),
            "/v1/embeddings": _post("OpenAI embeddings", "EmbeddingsRequest", "EmbeddingsList", "OpenAIError",
                                    streams=False),
            "/v1/models": {"get": {"summary": "Models this key may use", "responses": {
                "200": {"description": "OK", "content": {"application/json": {"schema": _ref("ModelList")}}},
                **_errors("OpenAIError", ("401", "429", "431", "503"))}}},
            "/openapi.json": {"get": {"summary": "This document", "responses": {
                "200": {"description": "OK", "content": {"application/json": {"schema": _JSON_OBJECT}}},
                **_errors("OpenAIError", ("401", "429", "431", "503"))}}},
            "/healthz": health_get,
            "/readyz": health_get,
        },
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"},
                                "apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"}},
        },
    }


class OpenApiRoute:
    """GET /openapi.json: authenticated like every API route (audited, throttled, before any body
    is read: `route`), then the document for that key. It names only the models the key may use,
    as /v1/models does."""

    _CACHE_SIZE = 64

    def __init__(self, pipeline: Pipeline, version: str) -> None:
        self._pipeline = pipeline
        self._version = version
        self._docs: dict[tuple[tuple[str, ...], tuple[str, ...]], bytes] = {}
        self.route = key_first(pipeline, self._serve, "openai", operation="models")

    async def _serve(self, ctx: RequestContext, req: HttpRequest) -> HttpResponse:
        ctx.status = 200
        await self._pipeline.finalize(ctx)
        assert ctx.principal is not None
        usable = self._pipeline.models(ctx.principal)
        chat = tuple(sorted(name for name, kind in usable if kind == "chat"))
        emb = tuple(sorted(name for name, kind in usable if kind == "embeddings"))
        body = self._docs.get((chat, emb))
        if body is None:
            if len(self._docs) >= self._CACHE_SIZE:
                self._docs.clear()
            body = self._docs[(chat, emb)] = orjson.dumps(build_openapi(chat, emb, self._version))
        return HttpResponse(200, body)
