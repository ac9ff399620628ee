"""Anthropic wire format: message, the streaming event sequence, models and the error envelope."""

from __future__ import annotations

import json
from typing import Any

from tests.fakes.content import Content
from tests.fakes.plan import SSE_CONTENT_TYPE, Frame, Plan, json_plan, sse
from tests.fakes.reply import ErrorSpec, Reply, ToolCall, Usage

_ERRORS: dict[int, tuple[str, str]] = {
    400: ("invalid_request_error", "Invalid request."),
    401: ("authentication_error", "invalid x-api-key"),
    402: ("billing_error", "Your credit balance is too low."),
    403: ("permission_error", "Your API key does not have permission to use the specified resource."),
    404: ("not_found_error", "The requested resource could not be found."),
    413: ("request_too_large", "Request exceeds the maximum allowed number of bytes."),
    429: ("rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit."),
    500: ("api_error", "Internal server error"),
    502: ("api_error", "Bad gateway"),
    503: ("api_error", "Service unavailable"),
    504: ("timeout_error", "Request timed out"),
    529: ("overloaded_error", "Overloaded"),
}


def error_body(spec: ErrorSpec, number: int = 0) -> dict[str, Any]:
    """`{"type": "error", "error": {"type", "message"}, "request_id"}` as Anthropic sends it."""
    default_type, default_message = _ERRORS.get(
        spec.status, ("api_error" if spec.status >= 500 else "invalid_request_error", "Error")
    )
    return {
        "type": "error",
        "error": {"type": spec.type or default_type, "message": spec.message or default_message},
        "request_id": f"req_fake{number:06d}",
    }


def error_frame(spec: ErrorSpec) -> bytes:
    """A mid-stream `event: error`."""
    body = error_body(spec)
    body.pop("request_id")
    return sse(body, "error")


def _usage(usage: Usage) -> dict[str, Any]:
    return {
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "cache_creation_input_tokens": usage.cache_creation_tokens,
        "cache_read_input_tokens": usage.cached_tokens,
        "service_tier": "standard",
    }


def _tool_id(call: ToolCall, number: int, index: int) -> str:
    return call.id or f"toolu_fake{number}_{index}"


def _tool_input(call: ToolCall) -> Any:
    try:
        return json.loads(call.arguments)
    except ValueError as exc:
        raise ValueError(
            f"ToolCall {call.name!r}: arguments must be valid JSON for a non-streamed Anthropic reply"
        ) from exc


def message_plan(reply: Reply, content: Content, number: int, streamed: bool) -> Plan:
    """A message, or its SSE event sequence when `streamed`."""
    message_id = f"msg_fake{number:06d}"
    stop_reason = reply.finish_reason or ("tool_use" if content.tools else "end_turn")
    headers = {"request-id": f"req_fake{number:06d}"}
    if not streamed:
        blocks: list[dict[str, Any]] = []
        if content.text or not content.tools:
            blocks.append({"type": "text", "text": content.text})
        blocks.extend(
            {"type": "tool_use", "id": _tool_id(tc, number, i), "name": tc.name, "input": _tool_input(tc)}
            for i, tc in enumerate(content.tools)
        )
        doc = {
            "id": message_id,
            "type": "message",
            "role": "assistant",
            "model": content.model,
            "content": blocks,
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": _usage(content.usage),
        }
        return json_plan(reply.status, doc, headers)

    start_usage = {**_usage(content.usage), "output_tokens": min(1, content.usage.output_tokens)}
    start = {
        "type": "message_start",
        "message": {
            "id": message_id,
            "type": "message",
            "role": "assistant",
            "model": content.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": start_usage,
        },
    }
    frames = [Frame(sse(start, "message_start"))]
    pinged = False

    def ping() -> None:
        nonlocal pinged
        if reply.ping and not pinged:
            frames.append(Frame(sse({"type": "ping"}, "ping")))
            pinged = True

    index = -1
    open_kind: str | None = None
    tool_number = 0

    def close_block() -> None:
        if open_kind is not None:
            frames.append(Frame(sse({"type": "content_block_stop", "index": index}, "content_block_stop")))

    for piece in content.pieces:
        if isinstance(piece, str):
            if open_kind != "text":
                close_block()
                index, open_kind = index + 1, "text"
                block = {
                    "type": "content_block_start",
                    "index": index,
                    "content_block": {"type": "text", "text": ""},
                }
                frames.append(Frame(sse(block, "content_block_start")))
                ping()
            delta = {
                "type": "content_block_delta",
                "index": index,
                "delta": {"type": "text_delta", "text": piece},
            }
            frames.append(Frame(sse(delta, "content_block_delta"), counted=True))
            continue
        close_block()
        index, open_kind = index + 1, "tool_use"
        opening = {
            "type": "tool_use",
            "id": _tool_id(piece, number, tool_number),
            "name": piece.name,
            "input": {},
        }
        tool_number += 1
        frames.append(
            Frame(
                sse(
                    {"type": "content_block_start", "index": index, "content_block": opening},
                    "content_block_start",
                )
            )
        )
        ping()
        for args in piece.argument_pieces():
            delta = {
                "type": "content_block_delta",
                "index": index,
                "delta": {"type": "input_json_delta", "partial_json": args},
            }
            frames.append(Frame(sse(delta, "content_block_delta"), counted=True))
    ping()
    if open_kind is not None:
        frames.append(
            Frame(sse({"type": "content_block_stop", "index": index}, "content_block_stop"), closing=True)
        )
    final = {
        "type": "message_delta",
        "delta": {"stop_reason": stop_reason, "stop_sequence": None},
        "usage": {"output_tokens": content.usage.output_tokens},
    }
    frames.append(Frame(sse(final, "message_delta"), closing=True))
    if not reply.end_without_done:
        frames.append(Frame(sse({"type": "message_stop"}, "message_stop"), closing=True))
    return Plan(
        status=reply.status,
        headers={"content-type": SSE_CONTENT_TYPE, **headers},
        frames=frames,
        streamed=True,
    )


def models_body(models: list[str]) -> dict[str, Any]:
    """GET /v1/models with an `anthropic-version` header."""
    data = [
        {"type": "model", "id": m, "display_name": m, "created_at": "2025-01-01T00:00:00Z"} for m in models
    ]
    return {
        "data": data,
        "has_more": False,
        "first_id": models[0] if models else None,
        "last_id": models[-1] if models else None,
    }


def validation_error(body: Any, headers: dict[str, str]) -> str | None:
    """Why the real API would reject this request with 400 (naming the field), or None."""
    if "anthropic-version" not in headers:
        return "anthropic-version: header is required"
    if not isinstance(body, dict):
        return "There was an issue with your request body: invalid JSON"
    if not isinstance(body.get("model"), str):
        return "model: Field required"
    if not isinstance(body.get("max_tokens"), int):
        return "max_tokens: Field required"
    messages = body.get("messages")
    if not isinstance(messages, list):
        return "messages: Field required"
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
            return f'messages.{i}.role: Input should be "user" or "assistant"'
    return None
