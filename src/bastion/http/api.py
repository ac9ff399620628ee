"""Thin handlers of the client-facing API: parse wire → domain, call the pipeline, render."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator

from bastion.core.context import RequestContext
from bastion.core.errors import BastionError, InternalError, InvalidRequest, NotFound
from bastion.core.types import ChatResponse, Ingress, StreamEvent
from bastion.http.errors import error_response
from bastion.http.types import HttpRequest, HttpResponse, StreamingResponse
from bastion.observability.logging import request_id_var
from bastion.pipeline.runner import Pipeline
from bastion.providers.base import StreamEncoder
from bastion.providers.openai import OPENAI
from bastion.providers.registry import ingress_format

log = logging.getLogger("bastion.http")


class ApiHandlers:
    def __init__(self, pipeline: Pipeline, max_messages: int) -> None:
        self.p = pipeline
        self.max_messages = max_messages

    def _ctx(self, req: HttpRequest, ingress: Ingress) -> RequestContext:
        request_id_var.set(req.request_id)
        return RequestContext(request_id=req.request_id, ingress=ingress, client_addr=req.client)

    async def _fail(self, ctx: RequestContext, err: BastionError) -> HttpResponse:
        ctx.status = err.status
        ctx.error_code = err.code
        await self.p.finalize(ctx)
        return error_response(err, ctx.ingress, ctx.response_headers)

    # ---- chat (both ingress formats) ---------------------------------------------------
    async def openai_chat(self, req: HttpRequest) -> HttpResponse | StreamingResponse:
        return await self._chat(req, "openai")

    async def anthropic_messages(self, req: HttpRequest) -> HttpResponse | StreamingResponse:
        return await self._chat(req, "anthropic")

    async def _chat(self, req: HttpRequest, ingress: Ingress) -> HttpResponse | StreamingResponse:
        ctx = self._ctx(req, ingress)
        fmt = ingress_format(ingress)
        try:
            await self.p.admit(ctx, req.headers)
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
        if isinstance(result, ChatResponse):
            ctx.status = 200
            body = fmt.encode_response(result, alias)
            await self.p.finalize(ctx)
            return HttpResponse.json(body, headers=ctx.response_headers)
        ctx.status = 200
        encoder = fmt.stream_encoder(chat, alias)

        async def on_close(gone: bool) -> None:
            ctx.client_disconnected = gone
            await self.p.finalize(ctx)

        return StreamingResponse(_frames(ctx, result, encoder), headers=ctx.response_headers, on_close=on_close)

    # ---- embeddings and models --------------------------------------------------------
    async def embeddings(self, req: HttpRequest) -> HttpResponse:
        ctx = self._ctx(req, "openai")
        try:
            await self.p.admit(ctx, req.headers)
            er = OPENAI.decode_embeddings_request(req.json())
            resp = await self.p.embeddings(ctx, er)
            ctx.status = 200
            body = OPENAI.encode_embeddings_response(resp, er.model)
        except BastionError as e:
            return await self._fail(ctx, e)
        await self.p.finalize(ctx)
        return HttpResponse.json(body, headers=ctx.response_headers)

    async def models(self, req: HttpRequest) -> HttpResponse:
        ctx = self._ctx(req, "openai")
        ctx.operation = "models"
        try:
            principal = await self.p.admit(ctx, req.headers)
        except BastionError as e:
            return await self._fail(ctx, e)
        ctx.status = 200
        await self.p.finalize(ctx)
        data = [{"id": name, "object": "model", "created": 0, "owned_by": "bastion"}
                for name, _ in self.p.models(principal)]
        return HttpResponse.json({"object": "list", "data": data})

    async def not_found(self, req: HttpRequest) -> HttpResponse:
        """Unknown paths: authenticate first, so nothing answers an unauthenticated caller."""
        ctx = self._ctx(req, "anthropic" if req.path.startswith("/v1/messages") else "openai")
        try:
            await self.p.admit(ctx, req.headers)
            raise NotFound(f"no route {req.method} {req.path[:200]}", code="not_found")
        except BastionError as e:
            return await self._fail(ctx, e)


async def _frames(ctx: RequestContext, bursts: AsyncIterator[list[StreamEvent]], enc: StreamEncoder
                  ) -> AsyncIterator[bytes]:
    """Canonical events → ingress SSE frames, those of one burst together; a failure mid-stream
    ends with an error frame."""
    encode = enc.encode
    try:
        async for burst in bursts:
            if len(burst) == 1:
                out = encode(burst[0])
            else:
                out = b"".join([encode(ev) for ev in burst])
            if out:
                yield out
        yield enc.close()
    except BastionError as e:
        ctx.error_code = e.code  # the wire status is already 200; the code tells what ended it
        log.log(e.log_level, "stream ended with %s: %s", e.code, e.message,
                extra={"request_id": ctx.request_id})
        yield enc.error(e)
    except Exception:
        log.exception("stream failed", extra={"request_id": ctx.request_id})
        ctx.error_code = "internal_error"
        yield enc.error(InternalError("internal error; request " + ctx.request_id))
    finally:
        ctx.state["stream_closed_at"] = time.perf_counter()
