"""Thin handlers of the client-facing API: the key from the head, then parse wire → domain, call the
pipeline, render."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial
from urllib.parse import unquote

import orjson

from bastion.core.context import Operation, RequestContext, new_context
from bastion.core.errors import BastionError, InternalError, InvalidRequest, NotFound
from bastion.core.types import ChatResponse, Ingress, StreamEvent
from bastion.http.errors import error_response
from bastion.http.gate import Admission, Gated
from bastion.http.types import HttpRequest, HttpResponse, StreamingResponse
from bastion.observability.logging import request_id_var
from bastion.pipeline.runner import DirectStream, ObservedStream, Pipeline, framed
from bastion.providers.base import StreamEncoder, WireFormat
from bastion.providers.openai import OPENAI
from bastion.providers.registry import ingress_format

log = logging.getLogger("bastion.http")


Serve = Callable[[RequestContext, HttpRequest], Awaitable[HttpResponse | StreamingResponse]]

_FORMATS: dict[str, WireFormat] = {}  # ingress -> its wire format (ingress_format's answer)

CLIENT_GONE_STATUS = 499  # nginx's "client closed request": no response was ever sent
CLIENT_GONE = "client_disconnected"


async def _fail(p: Pipeline, ctx: RequestContext, err: BastionError) -> HttpResponse:
    ctx.status = err.status
    ctx.error_code = err.code
    if not p.settle_now(ctx):
        await p.settle(ctx)
    resp = error_response(err, ctx.ingress, ctx.response_headers)
    resp.after = partial(p.report_now, ctx)
    return resp


class _Admitted:
    """An API request whose key passed (`ctx.principal` set), waiting for its body. `abandonable`:
    the ASGI layer cancels it when its client goes away before the answer (http/asgi.py)."""

    __slots__ = ("_operation", "_p", "_serve", "ctx")
    abandonable = True

    def __init__(self, p: Pipeline, ctx: RequestContext, serve: Serve, operation: Operation | None) -> None:
        self._p = p
        self.ctx = ctx
        self._serve = serve
        self._operation = operation

    async def serve(self, req: HttpRequest) -> HttpResponse | StreamingResponse:
        try:
            return await self._serve(self.ctx, req)
        except Exception as e:
            # A bug past admission (the server answers 500, or the error's status): the request still
            # gets its audit record, metrics and access log line, and gives back its audit slot and
            # limits (once: the pipeline skips a finalizer that already ran).
            ctx = self.ctx
            ctx.status, ctx.error_code = (e.status, e.code) if isinstance(e, BastionError) else (500, "internal_error")
            await self._p.finalize(ctx)
            raise

    async def unread(self, err: BastionError | None) -> None:
        ctx = self.ctx
        if self._operation is not None:
            ctx.operation = self._operation
        if err is None:  # recorded as a stream the client cuts is: the request reached the gateway
            ctx.client_disconnected = True
            ctx.status, ctx.error_code = CLIENT_GONE_STATUS, CLIENT_GONE
        else:
            ctx.status, ctx.error_code = err.status, err.code
        await self._p.finalize(ctx)


def key_first(p: Pipeline, serve: Serve, ingress: Ingress | None = None, *, operation: Operation | None = None,
              admitted_operation: Operation | None = None) -> Gated:
    """A route that authenticates the virtual key (Pipeline.admit: audit admission, throttle, key
    cache: the one authentication of the request) from the head, before its body is read; `serve`
    then gets the admitted context. `ingress` None: by path. `operation` is set on the context from
    the start; `admitted_operation` (default: `operation`) is what a request whose key passed but
    whose body never arrived is recorded as (the pipeline sets it for the others)."""
    body_operation = admitted_operation or operation

    async def gate(head: HttpRequest) -> Admission | HttpResponse:
        request_id_var.set(head.request_id)
        ctx = new_context(head.request_id, ingress or _ingress_of(head.path), operation or "chat", head.client)
        try:
            await p.admit(ctx, head.headers)
        except BastionError as e:
            return await _fail(p, ctx, e)
        except Exception:
            log.exception("admission failed", extra={"request_id": ctx.request_id})
            return await _fail(p, ctx, InternalError("internal error; request " + ctx.request_id))
        return _Admitted(p, ctx, serve, body_operation)

    return Gated(gate)


def _ingress_of(path: str) -> Ingress:
    return "anthropic" if path.startswith("/v1/messages") else "openai"


class ApiHandlers:
    """The client-facing routes, each a `Gated` route: the key is checked before the body is read."""

    def __init__(self, pipeline: Pipeline, max_messages: int) -> None:
        self.p = pipeline
        self.max_messages = max_messages
        self.openai_chat = key_first(pipeline, self._chat, "openai")
        self.anthropic_messages = key_first(pipeline, self._chat, "anthropic")
        self.embeddings = key_first(pipeline, self._embeddings, "openai", operation="embeddings")
        self.models = key_first(pipeline, self._models, "openai", operation="models")
        self.model = key_first(pipeline, self._model, "openai", operation="models")  # GET /v1/models/{id}
        self.not_found = key_first(pipeline, self._not_found)  # unknown paths: nothing answers a stranger
        self.allowed_methods: dict[str, list[str]] = {}  # path -> methods, set with the route table

    async def _fail(self, ctx: RequestContext, err: BastionError) -> HttpResponse:
        return await _fail(self.p, ctx, err)

    # ---- chat (both ingress formats) ---------------------------------------------------
    async def _chat(self, ctx: RequestContext, req: HttpRequest) -> HttpResponse | StreamingResponse:
        fmt = _FORMATS.get(ctx.ingress)  # ingress_format, remembered: two calls fewer per request
        if fmt is None:
            fmt = _FORMATS[ctx.ingress] = ingress_format(ctx.ingress)
        try:
            chat = fmt.decode_request(req.json())
            if len(chat.messages) > self.max_messages:
                raise InvalidRequest(f"too many messages: {len(chat.messages)} > {self.max_messages}",
                                     param="messages")
            alias = chat.model
            result = await self.p.chat(ctx, chat)
        except BastionError as e:
            return await self._fail(ctx, e)
        except Exception:
            log.exception("chat failed", extra={"request_id": ctx.request_id})
            return await self._fail(ctx, InternalError("internal error; request " + ctx.request_id))
        p = self.p
        if isinstance(result, ChatResponse):
            ctx.status = 200
            body = orjson.dumps(fmt.encode_response(result, alias))
            if not p.settle_now(ctx):  # (a plain call when nothing in it awaits)
                await p.settle(ctx)
            # HttpResponse.json, by position: (status, body, content_type, headers, after)
            return HttpResponse(200, body, "application/json", ctx.response_headers or {}, partial(p.report_now, ctx))
        ctx.status = 200
        encoder = fmt.stream_encoder(chat, alias)

        async def on_close(gone: bool) -> None:
            ctx.client_disconnected = gone
            if not p.settle_now(ctx):
                await p.settle(ctx)

        # A direct or observed stream gives the client's frames, its end included (no generator around it)
        frames = (result.frames(encoder, _Ending(ctx, encoder)) if isinstance(result, (DirectStream, ObservedStream))
                  else _frames(ctx, result, encoder))
        # (chunks, status, content_type, headers, on_close, after) by position: keywords make a class
        # call build and unpack a dict of them
        return StreamingResponse(frames, 200, "text/event-stream", ctx.response_headers, on_close,
                                 partial(p.report_now, ctx))

    # ---- embeddings and models --------------------------------------------------------
    async def _embeddings(self, ctx: RequestContext, req: HttpRequest) -> HttpResponse:
        try:
            er = OPENAI.decode_embeddings_request(req.json())
            resp = await self.p.embeddings(ctx, er)
            ctx.status = 200
            body = OPENAI.encode_embeddings_response(resp, er.model)
        except BastionError as e:
            return await self._fail(ctx, e)
        await self.p.finalize(ctx)
        return HttpResponse.json(body, headers=ctx.response_headers)

    async def _models(self, ctx: RequestContext, req: HttpRequest) -> HttpResponse:
        assert ctx.principal is not None
        ctx.status = 200
        await self.p.finalize(ctx)
        data = [{"id": name, "object": "model", "created": 0, "owned_by": "bastion"}
                for name, _ in self.p.models(ctx.principal)]
        return HttpResponse.json({"object": "list", "data": data})

    async def _model(self, ctx: RequestContext, req: HttpRequest) -> HttpResponse:
        """One model, as OpenAI's models.retrieve reads it (ids may contain "/": the rest of the path)."""
        assert ctx.principal is not None
        name = unquote(req.path[len("/v1/models/"):])
        if req.method != "GET" or not name:
            return await self._not_found(ctx, req)
        if not any(alias == name for alias, _ in self.p.models(ctx.principal)):
            # unknown and not allowed look the same: a key learns nothing about models it may not use
            return await self._fail(ctx, NotFound(
                f"The model '{name[:200]}' does not exist or you do not have access to it.", param="model"))
        ctx.model = name
        ctx.status = 200
        await self.p.finalize(ctx)
        return HttpResponse.json({"id": name, "object": "model", "created": 0, "owned_by": "bastion"})

    async def _not_found(self, ctx: RequestContext, req: HttpRequest) -> HttpResponse:
        allowed = self.allowed_methods.get(req.path)
        if allowed:  # a known path with another method: 405 with Allow (after authentication, as 404)
            return await self._fail(ctx, InvalidRequest(
                f"method {req.method} not allowed on {req.path}; use {', '.join(allowed)}", status=405,
                code="method_not_allowed", headers={"allow": ", ".join(allowed)}))
        return await self._fail(ctx, NotFound(f"no route {req.method} {req.path[:200]}", code="not_found"))


class _Ending:
    """A stream's end for its client (providers/streaming.py `Ending`): the encoder's close, or on a
    failure mid-stream an error frame (the failure logged, its code recorded: the wire status is
    already 200)."""

    __slots__ = ("_ctx", "_enc")

    def __init__(self, ctx: RequestContext, enc: StreamEncoder) -> None:
        self._ctx = ctx
        self._enc = enc

    def close(self) -> bytes:
        try:
            return self._enc.close()
        except Exception as e:
            return self.failed(e)

    def failed(self, err: Exception) -> bytes:
        ctx = self._ctx
        if isinstance(err, BastionError):
            ctx.error_code = err.code
            log.log(err.log_level, "stream ended with %s: %s", err.code, err.message,
                    extra={"request_id": ctx.request_id})
            return self._enc.error(err)
        log.error("stream failed", exc_info=err, extra={"request_id": ctx.request_id})
        ctx.error_code = "internal_error"
        return self._enc.error(InternalError("internal error; request " + ctx.request_id))

    def closed(self) -> None:
        self._ctx.state["stream_closed_at"] = time.perf_counter()


def _frames(ctx: RequestContext, bursts: AsyncIterator[list[StreamEvent]], enc: StreamEncoder
            ) -> AsyncIterator[bytes]:
    """Canonical events → ingress SSE frames, those of one burst together; a failure mid-stream
    ends with an error frame (`_Ending`)."""
    return framed(bursts, enc, _Ending(ctx, enc))
