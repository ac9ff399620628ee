"""Runs a request through the ordered stages, the router and the output guard.

This is the only place where the order of the request flow is written:
admission (audit can accept) → auth → model checks → stages (rate limit, cost, policy) →
router → output guard → finalizers. `finalize` runs exactly once for every request that
reached the gateway, whatever happened: `settle` (the stages' finishers: limits, budgets; and an
observer that holds the response, the audit log in sync mode) before the response's last byte,
`report` (the other observers: audit record submission, metrics, access log, span) after it, where
a client waiting for its answer does not wait for them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping, Sequence
from functools import partial
from typing import Protocol, cast

from bastion.core.context import Principal, RequestContext, RequestStage, ResponseGuard
from bastion.core.errors import PermissionDenied, PolicyViolation
from bastion.core.types import (
    ChatRequest,
    ChatResponse,
    EmbeddingsRequest,
    EmbeddingsResponse,
    StreamEnd,
    StreamEvent,
    StreamStart,
    TextDelta,
    ThinkingDelta,
    ToolCallDelta,
    UsageEvent,
)
from bastion.observability.tracing import RequestTracer
from bastion.providers.base import StreamEncoder
from bastion.providers.router import Router
from bastion.providers.streaming import Ending, RoutedStream

_SETTLED, _REPORTED = "_settled", "_reported"  # ctx.state flags: each finalizer runs exactly once
log = logging.getLogger("bastion.pipeline")

Burst = list[StreamEvent]  # the events of one upstream read


class Authenticator(Protocol):
    async def authenticate(self, authorization: str | None, x_api_key: str | None,
                           client: str | None = None) -> Principal: ...

    def presented_key_id(self, authorization: str | None, x_api_key: str | None) -> str | None: ...


class Observer(Protocol):
    """Runs for every request (audit, metrics, access log). `admit` may refuse new work
    (e.g. the audit buffer cannot accept: fail closed); `finish` must not raise. An observer with
    a true `holds_response` attribute finishes before the response's last byte, the others after."""

    name: str

    def admit(self, ctx: RequestContext) -> None: ...

    async def finish(self, ctx: RequestContext) -> None: ...


class FinishesNow(Protocol):
    """A stage or observer whose `finish` may never need to await (optional): `finisher` gives it as a
    plain call then (the same work, run instead of `finish`), else None. The pipeline asks once, when
    it is built: a finisher that always runs to its end without a coroutine saves one per request."""

    def finisher(self) -> Callable[[RequestContext], None] | None: ...


def _finisher(o: object) -> Callable[[RequestContext], None] | None:
    ask = getattr(o, "finisher", None)
    return cast(FinishesNow, o).finisher() if callable(ask) else None


class Capture(Protocol):
    """Keeps prompt/response content for the audit record when the policy asks for it."""

    def wants(self, ctx: RequestContext) -> bool: ...

    def attach(self, ctx: RequestContext, request: ChatRequest, response_text: str | None) -> None: ...


class BurstGuard(Protocol):
    """An output guard that can work on bursts (optional, beside ResponseGuard.guard_stream): it
    receives the events one list per upstream read and gives lists back (it may hold events
    back, split or join lists). One with nothing to check for the request returns `bursts`
    unchanged, which takes it off the per-event path of the stream entirely."""

    def guard_bursts(self, ctx: RequestContext, bursts: AsyncIterator[Burst]) -> AsyncIterator[Burst]: ...


class BurstFilter(Protocol):
    """`BurstGuard.guard_bursts` for one stream, one burst at a time by a plain call."""

    def burst(self, burst: Burst, out: Burst) -> None:
        """Take one read's events; append to `out` what may leave now. Raises PolicyViolation on
        a block, `out` then holding what was safe to release before it."""
        ...

    def finish(self, out: Burst) -> None:
        """The bursts ended normally: append what is left to `out` (raises as `burst`)."""
        ...

    def guarded(self, bursts: AsyncIterator[Burst]) -> AsyncIterator[Burst]:
        """The guarded bursts, as `guard_bursts` gives them."""
        ...


class FilteringGuard(Protocol):
    """A burst guard that can give its work on one stream as a `BurstFilter` (optional, beside
    `guard_bursts`): a stream read as frames then has no guard's generator per read
    (`ObservedStream`)."""

    def burst_filter(self, ctx: RequestContext) -> BurstFilter | None:
        """None when there is nothing to check for the request (as `guard_bursts` returning its bursts)."""
        ...


def _join_text(guard: ResponseGuard, routed: RoutedStream) -> None:
    """The guard joins a read's adjacent text deltas before anything reads them: the routed stream
    may decode them joined (providers/streaming.py `_decode_joined`)."""
    join = getattr(routed, "join_text", None)
    if join is not None and getattr(guard, "joins_text", False):
        join()


def guarded(guard: ResponseGuard, ctx: RequestContext, routed: RoutedStream) -> AsyncIterator[Burst]:
    """The output guard over a routed stream, in bursts. A guard that works on bursts gets them as
    they come; one that works event by event gets the events one by one, and each event it lets
    out is a burst of its own (the HTTP layer still writes together what is ready together:
    http/relay.py)."""
    if hasattr(guard, "guard_bursts"):
        bursts = routed.bursts()
        out = cast(BurstGuard, guard).guard_bursts(ctx, bursts)
        if out is not bursts:
            _join_text(guard, routed)
        return out
    return _singles(guard.guard_stream(ctx, routed))


async def _singles(events: AsyncIterator[StreamEvent]) -> AsyncIterator[Burst]:
    async for ev in events:
        yield [ev]


def note(ctx: RequestContext, events: list[StreamEvent], text_chars: int) -> None:
    """What one read of a stream tells, on either path (`DirectStream`, `Pipeline._observe`):
    first-token time, streamed size, usage (the final count, and what the start reported), finish
    reason. `text_chars`: text of choice 0 that was never made an event."""
    if text_chars:
        if ctx.first_token_at is None:
            ctx.first_token_at = time.perf_counter()
        ctx.streamed_chars += text_chars
    chars = -1  # text of the events so far, -1 for no text event
    for ev in events:  # the exact classes first (a subclass takes the checks below)
        kind = type(ev)
        if kind is TextDelta:
            chars += len(ev.text) + (chars < 0)  # type: ignore[union-attr]
        elif kind is StreamEnd:
            ctx.finish_reason = ev.finish_reason  # type: ignore[union-attr]
        elif kind is UsageEvent:
            ctx.usage = ev.usage  # type: ignore[union-attr]
        elif kind is StreamStart:
            ctx.start_usage = ev.usage  # type: ignore[union-attr]
        else:
            if chars >= 0:
                _chars(ctx, chars)
                chars = -1
            _note(ctx, ev)
    if chars >= 0:
        _chars(ctx, chars)


def _chars(ctx: RequestContext, chars: int) -> None:
    """`note` of text events of `chars` characters in all."""
    if ctx.first_token_at is None:
        ctx.first_token_at = time.perf_counter()
    ctx.streamed_chars += chars


def _note(ctx: RequestContext, ev: StreamEvent) -> None:
    """`note` of one event of any class."""
    if isinstance(ev, (TextDelta, ThinkingDelta)):  # reasoning the client sees is output too
        if ctx.first_token_at is None:
            ctx.first_token_at = time.perf_counter()
        ctx.streamed_chars += len(ev.text)
    elif isinstance(ev, ToolCallDelta):
        if ctx.first_token_at is None:
            ctx.first_token_at = time.perf_counter()
        ctx.streamed_chars += len(ev.arguments)
    elif isinstance(ev, UsageEvent):
        ctx.usage = ev.usage
    elif isinstance(ev, StreamEnd):
        ctx.finish_reason = ev.finish_reason
    elif isinstance(ev, StreamStart):
        ctx.start_usage = ev.usage


class DirectStream:
    """A stream no output guard or content capture reads: the client's frames may come straight
    from each upstream read (`frames`: providers/frames.py, observed by `note`), without canonical
    events for the text in between. Iterated, it gives the usual observed bursts (a stream is read
    one way or the other, not both)."""

    __slots__ = ("_bursts", "_ctx", "_pipeline", "_routed")

    def __init__(self, pipeline: Pipeline, ctx: RequestContext, routed: RoutedStream) -> None:
        self._pipeline = pipeline
        self._ctx = ctx
        self._routed = routed
        self._bursts: AsyncIterator[Burst] | None = None

    def frames(self, encoder: StreamEncoder, ending: Ending | None = None) -> AsyncIterator[bytes]:
        return self._routed.frames(encoder, partial(note, self._ctx), ending)

    def __aiter__(self) -> AsyncIterator[Burst]:
        if self._bursts is None:
            self._bursts = self._pipeline._observe(self._ctx, self._routed.bursts())
        return self._bursts

    async def __anext__(self) -> Burst:
        return await self.__aiter__().__anext__()

    async def aclose(self) -> None:
        if self._bursts is not None:
            await cast(AsyncGenerator[Burst, None], self._bursts).aclose()
        await self._routed.aclose()


class ObservedStream:
    """A guarded stream that no content capture reads: iterated, its observed bursts (`Pipeline._observe`);
    `frames` gives the client's frames of each burst from the generator that reads, guards (with
    `filter`: `BurstFilter`) and observes it, with the stream's end (http/api.py): no generator per
    upstream read for the guard, for observing and for encoding each (the same bursts, the same
    `note` per burst, the same frames, the same end)."""

    __slots__ = ("_bursts", "_ctx", "_filter", "_observed", "_pipeline")

    def __init__(self, pipeline: Pipeline, ctx: RequestContext, bursts: AsyncIterator[Burst],
                 burst_filter: BurstFilter | None = None) -> None:
        self._pipeline = pipeline
        self._ctx = ctx
        self._bursts = bursts
        self._filter = burst_filter
        self._observed: AsyncIterator[Burst] | None = None

    def frames(self, encoder: StreamEncoder, ending: Ending) -> AsyncIterator[bytes]:
        return framed(self._bursts, encoder, ending, self._ctx, self._filter)

    def __aiter__(self) -> AsyncIterator[Burst]:
        if self._observed is None:
            bursts = self._bursts if self._filter is None else self._filter.guarded(self._bursts)
            self._observed = self._pipeline._observe(self._ctx, bursts)
        return self._observed

    async def __anext__(self) -> Burst:
        return await self.__aiter__().__anext__()

    async def aclose(self) -> None:
        if self._observed is not None:
            await cast(AsyncGenerator[Burst, None], self._observed).aclose()


async def framed(bursts: AsyncIterator[Burst], encoder: StreamEncoder, ending: Ending,
                 ctx: RequestContext | None = None, burst_filter: BurstFilter | None = None) -> AsyncIterator[bytes]:
    """The client's frames of each burst (its events encoded together), then the stream's end; a
    failure mid-stream ends with `ending.failed`'s frame. With `ctx`, each burst is observed first
    (`note`): `Pipeline._observe` and the encoding in one generator. With `burst_filter`, what it
    releases of each burst is that burst (`BurstFilter.guarded`, without its generator): a burst
    it releases nothing of gives no frame; on a block, what it released before the block leaves
    first, then the block's error frame."""
    encode = encoder.encode
    # an encoder that encodes a burst in one call (providers/openai/stream.py ChunkEncoder.encode_burst)
    encode_burst = getattr(encoder, "encode_burst", None)

    def frame(burst: Burst) -> bytes:
        if ctx is not None:
            note(ctx, burst, 0)
        if len(burst) == 1:
            return encode(burst[0])
        return encode_burst(burst) if encode_burst is not None else b"".join([encode(ev) for ev in burst])

    try:
        try:
            out: Burst = []
            async for burst in bursts:
                if burst_filter is not None:
                    blocked = None
                    try:
                        burst_filter.burst(burst, out)
                    except PolicyViolation as e:
                        blocked = e
                    if not out:
                        if blocked is not None:
                            raise blocked
                        continue
                    burst, out = out, []
                    if blocked is not None:  # what was safe to release before the block leaves first
                        written = frame(burst)
                        if written:
                            yield written
                        raise blocked
                written = frame(burst)
                if written:
                    yield written
            if burst_filter is not None:
                blocked = None
                try:
                    burst_filter.finish(out)
                except PolicyViolation as e:
                    blocked = e
                if out:
                    written = frame(out)
                    if written:
                        yield written
                if blocked is not None:
                    raise blocked
        except Exception as e:
            last = ending.failed(e)
        else:
            last = ending.close()
        yield last
    finally:
        ending.closed()


class Pipeline:
    def __init__(self, auth: Authenticator, stages: Sequence[RequestStage], router: Router,
                 guard: ResponseGuard | None, observers: Sequence[Observer],
                 capture: Capture | None = None, tracer: RequestTracer | None = None) -> None:
        self.capture = capture
        self.tracer = tracer if tracer is not None and tracer.enabled else None
        self.auth = auth
        self.stages = list(stages)
        # stages whose `finish` does nothing (a false `finishes` attribute): settle skips their call
        self._quiet = tuple(s for s in self.stages if not getattr(s, "finishes", True))
        self.router = router
        self.guard = guard
        self.observers = list(observers)
        self._holding = [o for o in self.observers if getattr(o, "holds_response", False)]
        self._reporting = [o for o in self.observers if o not in self._holding]
        # the finishers that are plain calls (`FinishesNow`): of the stages by id, of the reporting observers beside each
        self._finishers = {id(s): f for s in self.stages if (f := _finisher(s)) is not None}
        self._reporters = tuple((o, _finisher(o)) for o in self._reporting)
        # nothing in `settle` ever awaits: `settle_now` does it as a plain call
        self.settles_now = not self._holding and all(s in self._quiet or id(s) in self._finishers for s in self.stages)
        # the finishers of every stage but the quiet ones, last first: `settle_now` when every stage was entered
        self._all_finishers = tuple((s, self._finishers[id(s)]) for s in reversed(self.stages)
                                    if s not in self._quiet) if self.settles_now else ()
        # nothing in `report` ever awaits: `report_now` does it as a plain call, by these
        self._report_calls = tuple((o, f) for o, f in self._reporters if f is not None)
        self.reports_now = len(self._report_calls) == len(self._reporters)

    # ---- admission ------------------------------------------------------------------
    async def admit(self, ctx: RequestContext, headers: Mapping[str, str]) -> Principal:
        for o in self.observers:
            o.admit(ctx)
        authorization = headers.get("authorization")
        x_api_key = headers.get("x-api-key")
        try:
            principal = await self.auth.authenticate(authorization, x_api_key, ctx.client_addr)
        except BaseException:  # the id presented is for logs and audit of refused requests (never the secret)
            ctx.presented_key_id = self.auth.presented_key_id(authorization, x_api_key)
            raise
        ctx.principal = principal
        return principal

    def check_model(self, ctx: RequestContext, model: str, kind: str) -> None:
        ctx.model = model
        self.router.route(model, kind)  # 404 when unknown
        assert ctx.principal is not None
        if not ctx.principal.may_use(model):
            raise PermissionDenied(f"This key may not use the model '{model}'", param="model")

    async def _run_stages(self, ctx: RequestContext, req: ChatRequest | EmbeddingsRequest) -> None:
        entered: list[RequestStage] = []
        ctx.state["_entered"] = entered
        tracer = self.tracer
        if tracer is None:
            for stage in self.stages:
                entered.append(stage)
                await stage.check(ctx, req)
            return
        for stage in self.stages:
            entered.append(stage)
            with tracer.stage(ctx, stage.name):
                await stage.check(ctx, req)

    # ---- operations -----------------------------------------------------------------
    async def chat(self, ctx: RequestContext, req: ChatRequest) -> ChatResponse | AsyncIterator[Burst]:
        """The response, or for a stream its canonical events in bursts (one list per upstream
        read, as far as the output guard keeps them together)."""
        ctx.operation = "chat"
        ctx.stream = req.stream
        model = ctx.model = req.model  # check_model, inlined (Principal.may_use too): two calls fewer
        self.router.route(model, "chat")  # 404 when unknown
        p = ctx.principal
        assert p is not None
        if p.models is not None and model not in p.models:
            raise PermissionDenied(f"This key may not use the model '{model}'", param="model")
        if self.tracer is None:  # _run_stages, inlined: a coroutine less per request
            entered: list[RequestStage] = []
            ctx.state["_entered"] = entered
            for stage in self.stages:
                entered.append(stage)
                await stage.check(ctx, req)
        else:
            await self._run_stages(ctx, req)
        if req.stream:
            routed = await self.router.chat_stream(ctx, req)
            capture = self.capture is not None and self.capture.wants(ctx)
            if self.guard is None:
                if not capture:
                    return DirectStream(self, ctx, routed)
                bursts = routed.bursts()
            else:
                if not capture and hasattr(self.guard, "burst_filter"):
                    burst_filter = cast(FilteringGuard, self.guard).burst_filter(ctx)
                    if burst_filter is None:  # the guard has nothing to check
                        return DirectStream(self, ctx, routed)
                    _join_text(self.guard, routed)
                    return ObservedStream(self, ctx, routed.bursts(), burst_filter)
                bursts = guarded(self.guard, ctx, routed)
                if not capture and bursts is routed.bursts():  # the guard has nothing to check (BurstGuard)
                    return DirectStream(self, ctx, routed)
            if capture:
                return self._observe(ctx, bursts, req)
            return ObservedStream(self, ctx, bursts)
        resp = await self.router.chat(ctx, req)
        ctx.first_token_at = time.perf_counter()
        if self.guard is not None:
            resp = await self.guard.check_response(ctx, resp)
        ctx.usage = resp.usage
        if resp.choices:
            ctx.finish_reason = resp.choices[0].finish_reason
        if self.capture is not None and self.capture.wants(ctx):
            self.capture.attach(ctx, req, resp.choices[0].text() if resp.choices else None)
        return resp

    async def embeddings(self, ctx: RequestContext, req: EmbeddingsRequest) -> EmbeddingsResponse:
        ctx.operation = "embeddings"
        self.check_model(ctx, req.model, "embeddings")
        await self._run_stages(ctx, req)
        resp = await self.router.embeddings(ctx, req)
        ctx.usage = resp.usage
        return resp

    def models(self, principal: Principal) -> list[tuple[str, str]]:
        """(alias, kind) of every model the principal may use."""
        return [(name, r.kind) for name, r in self.router.routes.items() if principal.may_use(name)]

    async def _observe(self, ctx: RequestContext, bursts: AsyncIterator[Burst],
                       captured_request: ChatRequest | None = None) -> AsyncIterator[Burst]:
        """What reached the client: first-token time, usage, finish reason, streamed size
        (and, when the policy captures content, the text itself)."""
        texts: list[str] | None = [] if captured_request is not None else None
        try:
            async for burst in bursts:
                note(ctx, burst, 0)
                if texts is not None:
                    texts.extend([ev.text for ev in burst if isinstance(ev, TextDelta) and ev.index == 0])
                yield burst
        finally:
            if texts is not None and captured_request is not None and self.capture is not None:
                self.capture.attach(ctx, captured_request, "".join(texts))

    # ---- the end ----------------------------------------------------------------------
    async def finalize(self, ctx: RequestContext) -> None:
        if not self.settle_now(ctx):
            await self.settle(ctx)
        pending = self.report_now(ctx)
        if pending is not None:
            await pending

    async def settle(self, ctx: RequestContext) -> None:
        """The stages' finishers, last entered first: before the response's last byte is sent, so
        a client that has its answer finds its usage and spend recorded. Runs once per request."""
        if self.settle_now(ctx):
            return
        state = ctx.state
        if state.get(_SETTLED):
            return
        state[_SETTLED] = True
        entered = state.get("_entered")
        if isinstance(entered, list):
            quiet = self._quiet
            finishers = self._finishers
            for stage in reversed(entered):
                if stage in quiet:
                    continue
                try:
                    f = finishers.get(id(stage))
                    if f is not None:
                        f(ctx)
                    else:
                        await stage.finish(ctx)
                except Exception:  # a finalizer must never break the others
                    log.exception("stage %s finish failed", getattr(stage, "name", "?"))
        if self._holding:  # e.g. the audit log in sync mode: no answer before its record
            await self._finish(self._holding, ctx)

    def settle_now(self, ctx: RequestContext) -> bool:
        """`settle` as a plain call when nothing in it awaits (`settles_now`): True once it ran (now or
        before); False, having done nothing, when `settle` must be awaited instead."""
        if not self.settles_now:
            return False
        state = ctx.state
        if state.get(_SETTLED):
            return True
        state[_SETTLED] = True
        entered = state.get("_entered")
        if isinstance(entered, list):
            # (entered in their order: as many as there are stages is all of them)
            finishing = self._all_finishers if len(entered) == len(self.stages) else [
                (s, self._finishers[id(s)]) for s in reversed(entered) if s not in self._quiet]
            for stage, finish in finishing:
                try:
                    finish(ctx)
                except Exception:  # a finalizer must never break the others
                    log.exception("stage %s finish failed", getattr(stage, "name", "?"))
        return True

    async def report(self, ctx: RequestContext) -> None:
        """The observers' finish (metrics, access log, span): bounded in-process work with no I/O to
        wait on, so it may run after the response is sent (`HttpResponse.after`, by `report_now`).
        Runs once per request."""
        state = ctx.state
        if state.get(_REPORTED):
            return
        state[_REPORTED] = True
        for o, f in self._reporters:  # _finish, inlined: this runs for every request
            try:
                if f is not None:
                    f(ctx)
                else:
                    await o.finish(ctx)
            except Exception:
                log.exception("observer %s failed", o.name)

    def report_now(self, ctx: RequestContext) -> Awaitable[None] | None:
        """`report` as a plain call when nothing in it awaits (`reports_now`): None once it ran (now or
        before); else `report`'s coroutine, for the caller to await. A response's `after` is this: the
        answer of every request then creates no coroutine (nor its frame) to report."""
        if not self.reports_now:
            return self.report(ctx)
        state = ctx.state
        if state.get(_REPORTED):
            return None
        state[_REPORTED] = True
        for o, f in self._report_calls:
            try:
                f(ctx)
            except Exception:
                log.exception("observer %s failed", o.name)
        return None

    @staticmethod
    async def _finish(observers: list[Observer], ctx: RequestContext) -> None:
        for o in observers:
            try:
                await o.finish(ctx)
            except Exception:
                log.exception("observer %s failed", o.name)
