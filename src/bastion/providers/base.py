"""The wire-format protocols: pure translation between canonical types and a vendor's JSON/SSE.

One `WireFormat` per vendor format (openai, anthropic) serves both directions:
- as an *ingress* codec, the HTTP layer decodes client requests and encodes responses,
  stream events and errors for clients of that API;
- as an *egress* adapter, the router encodes requests for providers of that kind and decodes
  their responses, SSE streams and errors.
No network, no config, no credentials here: the transport injects those.
"""

from __future__ import annotations

from typing import Protocol

from bastion.core.errors import BastionError
from bastion.core.types import (
    ChatRequest,
    ChatResponse,
    EmbeddingsRequest,
    EmbeddingsResponse,
    JSONObject,
    StreamEvent,
)


class StreamDecoder(Protocol):
    """Stateful: turns one upstream SSE stream into canonical events."""

    def feed(self, event: str | None, data: bytes) -> list[StreamEvent]:
        """One SSE event (its `event:` name, if any, and its joined `data:` bytes).
        Raises UpstreamError for an error event or malformed data."""
        ...

    @property
    def done(self) -> bool:
        """True once the vendor's end marker arrived ([DONE] / message_stop). The `feed` of the
        end marker returns no events (a reader asks `done` only after an empty result)."""
        ...


class StreamEncoder(Protocol):
    """Stateful: turns canonical events into SSE bytes for one client stream."""

    def encode(self, event: StreamEvent) -> bytes:
        """SSE frame(s) for the event; may be b"" when the event is buffered or not shown."""
        ...

    def error(self, err: BastionError) -> bytes:
        """An error frame that ends the stream (e.g. a policy block mid-stream)."""
        ...

    def close(self) -> bytes:
        """Final frames after the last event (e.g. `data: [DONE]`)."""
        ...


class WireFormat(Protocol):
    name: str  # "openai" | "anthropic"

    # ---- ingress (client side) ----
    def decode_request(self, body: JSONObject) -> ChatRequest:
        """Validate and parse a client request; InvalidRequest naming the field on error."""
        ...

    def encode_response(self, response: ChatResponse, model: str) -> JSONObject:
        """A full response for the client; `model` is the alias the client asked for."""
        ...

    def stream_encoder(self, request: ChatRequest, model: str) -> StreamEncoder: ...

    def encode_error(self, err: BastionError) -> JSONObject:
        """The API's error envelope."""
        ...

    # ---- egress (provider side) ----
    chat_path: str  # appended to the provider base_url, e.g. "/chat/completions"

    def encode_request(self, request: ChatRequest, model: str) -> JSONObject:
        """The upstream body. Streams always ask for usage (cost accounting needs it)."""
        ...

    def decode_response(self, body: JSONObject) -> ChatResponse: ...

    def stream_decoder(self) -> StreamDecoder: ...

    def decode_error(self, status: int, body: bytes) -> BastionError:
        """Map a non-2xx provider answer to an UpstreamError subclass (retryable set for
        429/5xx/overloaded); the message keeps the provider's text only when it cannot carry
        a secret (no credentials echoed)."""
        ...

    def auth_headers(self, api_key: str) -> dict[str, str]:
        """Headers that carry the provider credential (used only by the transport)."""
        ...


class EmbeddingsFormat(Protocol):
    """OpenAI-style embeddings (both ingress and egress)."""

    embeddings_path: str

    def decode_embeddings_request(self, body: JSONObject) -> EmbeddingsRequest: ...

    def encode_embeddings_request(self, request: EmbeddingsRequest, model: str) -> JSONObject: ...

    def decode_embeddings_response(self, body: JSONObject) -> EmbeddingsResponse: ...

    def encode_embeddings_response(self, response: EmbeddingsResponse, model: str) -> JSONObject: ...
