"""OpenAI wire format: chat.completion(.chunk), embeddings, models and the error envelope."""

from __future__ import annotations

import base64
import struct
from typing import Any

from tests.fakes.content import Content
from tests.fakes.echo import embedding_for, embedding_inputs, embedding_tokens
from tests.fakes.plan import SSE_CONTENT_TYPE, Frame, Plan, json_plan, sse
from tests.fakes.reply import ErrorSpec, Reply, ToolCall, Usage

CREATED = 1_700_000_000
FINGERPRINT = "fp_fake"

_ERRORS: dict[int, tuple[str, str | None, str]] = {
    400: ("invalid_request_error", None, "Invalid request."),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
    403: ("invalid_request_error", "unsupported_country_region_territory", "Permission denied."),
    404: (
        "invalid_request_error",
        "model_not_found",
        "The model does not exist or you do not have access to it.",
    ),
    409: ("invalid_request_error", None, "Conflict."),
    422: ("invalid_request_error", None, "Unprocessable entity."),
    429: ("requests", "rate_limit_exceeded", "Rate limit reached. Please try again later."),
    500: ("server_error", None, "The server had an error while processing your request."),
    502: ("server_error", None, "Bad gateway."),
    503: ("server_error", None, "The engine is currently overloaded, please try again later."),
    504: ("server_error", None, "Gateway timeout."),
}


def error_body(spec: ErrorSpec) -> dict[str, Any]:
    """`{"error": {"message", "type", "param", "code"}}` as OpenAI sends it."""
    default_type, default_code, default_message = _ERRORS.get(
        spec.status, ("server_error" if spec.status >= 500 else "invalid_request_error", None, "Error.")
    )
    return {
        "error": {
            "message": spec.message or default_message,
            "type": spec.type or default_type,
            "param": None,
            "code": spec.code if spec.code is not None else default_code,
        }
    }


def error_frame(spec: ErrorSpec) -> bytes:
    """A mid-stream error: a data-only event whose JSON has an `error` key."""
    return sse(error_body(spec))


def _usage(usage: Usage) -> dict[str, Any]:
    return {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.input_tokens + usage.output_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cached_tokens, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": usage.reasoning_tokens,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _call_id(call: ToolCall, number: int, index: int) -> str:
    return call.id or f"call_fake{number}_{index}"


def chat_plan(reply: Reply, body: Any, content: Content, number: int, streamed: bool) -> Plan:
    """A chat completion, or its SSE chunk stream when `streamed`."""
    completion_id = f"chatcmpl-fake{number:06d}"
    finish = reply.finish_reason or ("tool_calls" if content.tools else "stop")
    if not streamed:
        message: dict[str, Any] = {
            "role": "assistant",
            "content": content.text if content.text or not content.tools else None,
            "refusal": None,
            "annotations": [],
        }
        if content.tools:
            message["tool_calls"] = [
                {
                    "id": _call_id(tc, number, i),
                    "type": "function",
                    "function": {"name": tc.name, "arguments": tc.arguments},
                }
                for i, tc in enumerate(content.tools)
            ]
        doc = {
            "id": completion_id,
            "object": "chat.completion",
            "created": CREATED,
            "model": content.model,
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
            "usage": _usage(content.usage),
            "service_tier": "default",
            "system_fingerprint": FINGERPRINT,
        }
        return json_plan(reply.status, doc)

    options = body.get("stream_options") if isinstance(body, dict) else None
    include_usage = isinstance(options, dict) and options.get("include_usage") is True

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        doc: dict[str, Any] = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": CREATED,
            "model": content.model,
            "system_fingerprint": FINGERPRINT,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
        }
        if include_usage:
            doc["usage"] = None
        return sse(doc)

    starts_with_text = bool(content.pieces) and isinstance(content.pieces[0], str)
    frames = [
        Frame(chunk({"role": "assistant", "content": "" if starts_with_text else None, "refusal": None}))
    ]
    tool_index = 0
    for piece in content.pieces:
        if isinstance(piece, str):
            frames.append(Frame(chunk({"content": piece}), counted=True))
            continue
        opening = {
            "index": tool_index,
            "id": _call_id(piece, number, tool_index),
            "type": "function",
            "function": {"name": piece.name, "arguments": ""},
        }
        frames.append(Frame(chunk({"tool_calls": [opening]})))
        for args in piece.argument_pieces():
            delta = {"tool_calls": [{"index": tool_index, "function": {"arguments": args}}]}
            frames.append(Frame(chunk(delta), counted=True))
        tool_index += 1
    frames.append(Frame(chunk({}, finish), closing=True))
    if include_usage:
        usage_doc = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": CREATED,
            "model": content.model,
            "system_fingerprint": FINGERPRINT,
            "choices": [],
            "usage": _usage(content.usage),
        }
        frames.append(Frame(sse(usage_doc), closing=True))
    if not reply.end_without_done:
        frames.append(Frame(b"data: [DONE]\n\n", closing=True))
    return Plan(status=reply.status, headers={"content-type": SSE_CONTENT_TYPE}, frames=frames, streamed=True)


def embeddings_plan(reply: Reply, body: Any, default_dimensions: int) -> Plan:
    """An embeddings list; honours `dimensions` and `encoding_format: base64` (the SDK default)."""
    inputs = embedding_inputs(body)
    dims = body.get("dimensions") if isinstance(body, dict) else None
    dimensions = dims if isinstance(dims, int) and dims > 0 else default_dimensions
    vectors = (
        [list(v) for v in reply.embeddings]
        if reply.embeddings is not None
        else [embedding_for(item, dimensions) for item in inputs]
    )
    as_base64 = isinstance(body, dict) and body.get("encoding_format") == "base64"
    data = [
        {
            "object": "embedding",
            "index": i,
            "embedding": base64.b64encode(struct.pack(f"<{len(v)}f", *v)).decode() if as_base64 else v,
        }
        for i, v in enumerate(vectors)
    ]
    tokens = reply.usage.input_tokens if reply.usage else embedding_tokens(inputs)
    model = reply.model or (body.get("model") if isinstance(body, dict) else None) or "fake-embedding"
    doc = {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
    return json_plan(reply.status, doc)


def models_body(models: list[str]) -> dict[str, Any]:
    """GET /v1/models."""
    return {
        "object": "list",
        "data": [
            {"id": m, "object": "model", "created": CREATED, "owned_by": "fake-upstream"} for m in models
        ],
    }


def validation_error(body: Any, route: str) -> str | None:
    """Why the real API would reject this request with 400 (naming the field), or None."""
    if not isinstance(body, dict):
        return "We could not parse the JSON body of your request."
    if not isinstance(body.get("model"), str):
        return "you must provide a model parameter"
    if route == "openai.embeddings":
        return None if "input" in body else "Missing required parameter: 'input'."
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "Missing required parameter: 'messages'."
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in (
            "system",
            "developer",
            "user",
            "assistant",
            "tool",
            "function",
        ):
            return f"Invalid value for 'messages[{i}].role'."
    if body.get("stream_options") is not None and body.get("stream") is not True:
        return "The 'stream_options' parameter is only allowed when 'stream' is enabled."
    return None
