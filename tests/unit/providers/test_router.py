"""The router at the transport seam: fallback order, retries, circuit breakers, streams that fail
before or after their first content, and invariants over random fault scripts (hypothesis)."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bastion.config.schema import CircuitConfig, RetryConfig
from bastion.core.context import RequestContext
from bastion.core.errors import BastionError, UpstreamError, UpstreamTimeout, UpstreamUnavailable
from bastion.core.types import ChatRequest
from bastion.providers.circuit import Breaker, CircuitBreaker
from bastion.providers.openai import OPENAI
from bastion.providers.router import Route, Router, Target
from bastion.providers.transport import Endpoint

# ---- a scripted transport --------------------------------------------------------------------


def completion(model: str, text: str = "hi") -> bytes:
    return orjson.dumps({"id": "c1", "object": "chat.completion", "created": 1, "model": model,
                         "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                      "finish_reason": "stop"}],
                         "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}})


def chunk(delta: dict[str, object], finish: str | None = None) -> tuple[None, bytes]:
    return None, orjson.dumps({"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m",
                               "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})


ROLE = chunk({"role": "assistant", "content": ""})
DONE = (None, b"[DONE]")


@dataclass
class Ok:
    text: str = "hi"


@dataclass
class Status:
    code: int
    retry_after: float | None = None


@dataclass
class Raise:
    kind: type[UpstreamError]
    message: str
    retryable: bool = False

    def error(self) -> UpstreamError:
        return self.kind(self.message, retryable=self.retryable)  # fresh: the router may amend it


@dataclass
class Stream:
    texts: list[str]
    fail_after: int | None = None  # raise after this many texts (0 = before any content)
    done: bool = True
    burst: bool = False  # every event in one upstream read (else one read per event)
    error_event_after: int | None = None  # an error event in the stream after this many texts


class FakeStream:
    def __init__(self, spec: Stream) -> None:
        self.spec = spec
        self.closed = False

    async def events(self) -> AsyncIterator[tuple[str | None, bytes]]:
        yield ROLE
        for i, t in enumerate(self.spec.texts):
            if self.spec.fail_after == i:
                raise UpstreamError("connection broke mid-stream", retryable=True)
            if self.spec.error_event_after == i:
                yield None, b'{"error": {"message": "overloaded", "type": "server_error"}}'
            yield chunk({"content": t})
        if self.spec.fail_after is not None and self.spec.fail_after >= len(self.spec.texts):
            raise UpstreamError("connection broke mid-stream", retryable=True)
        yield chunk({}, "stop")
        if self.spec.done:
            yield DONE

    async def bursts(self) -> AsyncIterator[list[tuple[str | None, bytes]]]:
        if not self.spec.burst:
            async for ev in self.events():
                yield [ev]
            return
        got: list[tuple[str | None, bytes]] = []
        try:
            async for ev in self.events():
                got.append(ev)
        except UpstreamError:
            if got:
                yield got
            raise
        yield got

    def close(self) -> None:
        self.closed = True


@dataclass
class FakeTransport:
    """Outcomes per upstream model name, consumed in order; an exhausted script answers Ok."""

    script: dict[str, list[object]]
    calls: list[str] = field(default_factory=list)
    streams: list[FakeStream] = field(default_factory=list)

    def _next(self, body: bytes) -> tuple[str, object]:
        model = orjson.loads(body)["model"]
        self.calls.append(model)
        queue = self.script.get(model, [])
        return model, queue.pop(0) if queue else Ok()

    def _answer(self, model: str, out: object) -> tuple[int, dict[str, str], bytes]:
        if isinstance(out, Raise):
            raise out.error()
        if isinstance(out, Stream):
            out = Ok("".join(out.texts))
        if isinstance(out, Status):
            headers = {"retry-after": str(out.retry_after)} if out.retry_after is not None else {}
            return out.code, headers, b'{"error": {"message": "scripted", "type": "x"}}'
        assert isinstance(out, Ok)
        return 200, {}, completion(model, out.text)

    async def post(self, ep: Endpoint, path: str, body: bytes,
                   extra: object = None) -> tuple[int, dict[str, str], bytes]:
        await asyncio.sleep(0)
        return self._answer(*self._next(body))

    async def post_stream(self, ep: Endpoint, path: str, body: bytes,
                          extra: object = None) -> tuple[int, dict[str, str], object]:
        await asyncio.sleep(0)
        model, out = self._next(body)
        if isinstance(out, Ok):
            out = Stream([out.text])
        if isinstance(out, Stream):
            s = FakeStream(out)
            self.streams.append(s)
            return 200, {}, s
        return self._answer(model, out)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


EP = Endpoint(name="p", base_url="http://upstream.invalid/v1", auth_headers={}, connect_timeout=1,
              first_byte_timeout=1, idle_timeout=1, total_timeout=1, max_connections=1)


def target(model: str, attempts: int = 2, breaker: Breaker | None = None, priority: int = 0) -> Target:
    return Target(provider="p", model=model, kind="openai", fmt=OPENAI, endpoint=EP,
                  retry=RetryConfig(attempts=attempts, backoff_base=0.0, backoff_max=1.0), priority=priority,
                  breaker=breaker)


_NATIVE_BREAKERS = [False]  # (every test runs with both breakers: the Python class and its C state machine)


@pytest.fixture(autouse=True, params=["python", "c"])
def breakers(request: pytest.FixtureRequest) -> Iterator[None]:
    if request.param == "c":
        pytest.importorskip("bastion._native")
    _NATIVE_BREAKERS[0] = request.param == "c"
    yield
    _NATIVE_BREAKERS[0] = False


def cb(clock: Clock, **kw: object) -> Breaker:
    cfg = CircuitConfig.model_validate({"consecutive_failures": 2, "cooldown_seconds": 10, **kw})
    if _NATIVE_BREAKERS[0]:
        from bastion._native import circuit_core
        return circuit_core(cfg, "", clock)
    return CircuitBreaker(cfg, clock=clock)


def probes(b: Breaker) -> int:
    return b._internals()[3] if hasattr(b, "_internals") else b._probes  # type: ignore[attr-defined, no-any-return]


def make(targets: list[Target], script: dict[str, list[object]], when_all_open: str = "try",
         strategy: str = "fallback") -> tuple[Router, FakeTransport, list[float]]:
    transport = FakeTransport(script)
    slept: list[float] = []

    async def sleep(s: float) -> None:
        slept.append(s)

    route = Route("alias", "chat", tuple(targets), strategy, when_all_open)  # type: ignore[arg-type]
    return Router({"alias": route}, transport, sleep=sleep), transport, slept  # type: ignore[arg-type]


def req(stream: bool = False) -> ChatRequest:
    return OPENAI.decode_request({"model": "alias", "messages": [{"role": "user", "content": "x"}],
                                  "stream": stream})


def ctx() -> RequestContext:
    return RequestContext(request_id="r", ingress="openai")


async def collect(events: AsyncIterator[object]) -> str:
    out = ""
    async for ev in events:
        if getattr(ev, "kind", None) == "text":
            out += ev.text  # type: ignore[attr-defined]
    return out


# ---- behaviour -------------------------------------------------------------------------------

async def test_retries_then_falls_back_in_listed_order():
    router, tr, _ = make([target("a"), target("b")], {"a": [Status(500), Status(503)]})
    c = ctx()
    resp = await router.chat(c, req())
    assert resp.choices[0].text() == "hi"
    assert tr.calls == ["a", "a", "b"]
    assert [a.outcome for a in c.attempts] == ["upstream_error", "upstream_unavailable", "ok"]
    assert router.balancer.total_in_flight() == 0


async def test_a_client_error_is_not_retried_nor_falls_back():
    router, tr, _ = make([target("a"), target("b")], {"a": [Status(400)]})
    with pytest.raises(UpstreamError) as e:
        await router.chat(ctx(), req())
    assert e.value.status == 400 and tr.calls == ["a"]


async def test_malformed_answer_falls_back():
    router, tr, _ = make([target("a"), target("b")], {})
    tr.script["a"] = [Raise(UpstreamError, "provider a returned invalid JSON")]
    resp = await router.chat(ctx(), req())
    assert resp.choices[0].text() == "hi" and tr.calls == ["a", "b"]


async def test_retry_after_within_backoff_max_is_slept_otherwise_moves_on():
    router, tr, slept = make([target("a"), target("b")], {"a": [Status(429, 0.5), Status(429, 30)]})
    await router.chat(ctx(), req())
    assert slept == [0.5] and tr.calls == ["a", "a", "b"]


async def test_open_circuit_is_skipped_and_recorded():
    clock = Clock()
    a = target("a", breaker=cb(clock))
    router, tr, _ = make([a, target("b")], {"a": [Status(500), Status(500)]})
    await router.chat(ctx(), req())
    assert a.breaker is not None and a.breaker.state == "open"
    tr.calls.clear()
    c = ctx()
    await router.chat(c, req())
    assert tr.calls == ["b"]
    assert [x.outcome for x in c.attempts] == ["circuit_open", "ok"]
    assert router.circuits() == [("p", "a", "open")]


async def test_half_open_probe_closes_the_circuit():
    clock = Clock()
    a = target("a", breaker=cb(clock))
    router, tr, _ = make([a, target("b")], {"a": [Status(500), Status(500)]})
    await router.chat(ctx(), req())
    clock.now += 10
    tr.calls.clear()
    await router.chat(ctx(), req())
    assert tr.calls == ["a"] and a.breaker is not None and a.breaker.state == "closed"


async def test_when_all_open_refuse_fails_fast_with_retry_after():
    clock = Clock()
    a = target("a", breaker=cb(clock))
    router, tr, _ = make([a], {"a": [Status(500), Status(500)]}, when_all_open="refuse")
    with pytest.raises(UpstreamError):
        await router.chat(ctx(), req())
    tr.calls.clear()
    clock.now += 4
    with pytest.raises(UpstreamUnavailable) as e:
        await router.chat(ctx(), req())
    assert e.value.code == "circuit_open" and e.value.retry_after == pytest.approx(6)
    assert tr.calls == []


async def test_when_all_open_try_calls_the_open_targets_anyway():
    clock = Clock()
    a, b = target("a", breaker=cb(clock)), target("b", breaker=cb(clock))
    router, tr, _ = make([a, b], {"a": [Status(500)] * 2, "b": [Status(500)] * 2})
    with pytest.raises(UpstreamError):
        await router.chat(ctx(), req())
    tr.calls.clear()
    c = ctx()
    resp = await router.chat(c, req())
    assert resp.choices[0].text() == "hi" and tr.calls == ["a"]
    assert [x.outcome for x in c.attempts] == ["circuit_open", "circuit_open", "ok"]
    assert a.breaker is not None and a.breaker.state == "closed"


@pytest.mark.parametrize("burst", [False, True])
async def test_stream_failing_before_content_falls_back(burst):
    router, tr, _ = make([target("a", attempts=1), target("b")],
                         {"a": [Stream(["x"], fail_after=0, burst=burst)], "b": [Stream(["hi"], burst=burst)]})
    events = await router.chat_stream(ctx(), req(stream=True))
    assert await collect(events) == "hi"
    assert tr.calls == ["a", "b"] and all(s.closed for s in tr.streams)
    assert router.balancer.total_in_flight() == 0


@pytest.mark.parametrize("burst", [False, True])
async def test_stream_failing_after_content_never_falls_back(burst):
    clock = Clock()
    a = target("a", attempts=1, breaker=cb(clock, consecutive_failures=1))
    router, tr, _ = make([a, target("b")], {"a": [Stream(["one ", "two"], fail_after=1, burst=burst)]})
    events = await router.chat_stream(ctx(), req(stream=True))
    got = ""
    with pytest.raises(UpstreamError):
        async for ev in events:
            if ev.kind == "text":
                got += ev.text  # type: ignore[union-attr]
    assert got == "one " and tr.calls == ["a"]
    assert tr.streams[0].closed and router.balancer.total_in_flight() == 0
    assert a.breaker is not None and a.breaker.state == "open"  # the broken stream counted


@pytest.mark.parametrize("burst", [False, True])
async def test_an_error_event_after_content_in_the_same_read_ends_the_stream_without_fallback(burst):
    """The first content is held back until it is read; the rest of its upstream read is decoded
    only as the client is served, so an error later in the same read is a mid-stream error."""
    router, tr, _ = make([target("a", attempts=1), target("b")],
                         {"a": [Stream(["one ", "two"], error_event_after=1, burst=burst)]})
    events = await router.chat_stream(ctx(), req(stream=True))
    got = ""
    with pytest.raises(UpstreamError, match="overloaded"):
        async for ev in events:
            if ev.kind == "text":
                got += ev.text  # type: ignore[union-attr]
    assert got == "one " and tr.calls == ["a"]
    assert tr.streams[0].closed and router.balancer.total_in_flight() == 0


async def test_a_whole_stream_in_one_read_gives_every_event_in_order():
    router, tr, _ = make([target("a")], {"a": [Stream(["a", "b", "c"], burst=True)]})
    events = await router.chat_stream(ctx(), req(stream=True))
    kinds = [ev.kind async for ev in events]
    assert kinds == ["start", "text", "text", "text", "end"]
    assert tr.streams[0].closed and router.balancer.total_in_flight() == 0


async def test_stream_holds_its_slot_until_closed_and_closing_early_releases_it():
    router, tr, _ = make([target("a")], {"a": [Stream(["a", "b", "c"])]})
    events = await router.chat_stream(ctx(), req(stream=True))
    assert router.balancer.in_flight(("p", "a")) == 1
    first = await anext(events)
    assert first.kind == "start"
    await events.aclose()  # the client went away
    assert router.balancer.total_in_flight() == 0 and tr.streams[0].closed


async def test_a_stream_dropped_before_its_first_event_still_releases_everything():
    router, tr, _ = make([target("a")], {"a": [Stream(["a", "b"])]})
    events = await router.chat_stream(ctx(), req(stream=True))
    assert router.balancer.total_in_flight() == 1
    del events  # e.g. the client went away between routing and the first byte
    gc.collect()
    assert router.balancer.total_in_flight() == 0 and tr.streams[0].closed


async def test_stream_that_ends_without_done_is_an_error():
    router, _, _ = make([target("a", attempts=1)], {"a": [Stream(["x"], done=False)]})
    events = await router.chat_stream(ctx(), req(stream=True))
    with pytest.raises(UpstreamError, match="before it was complete"):
        await collect(events)


async def test_cancellation_releases_the_lease_and_probe():
    clock = Clock()
    a = target("a", breaker=cb(clock))
    assert a.breaker is not None
    router, tr, _ = make([a], {})

    async def hang(ep: Endpoint, path: str, body: bytes, extra: object = None) -> object:
        await asyncio.sleep(10)
        raise AssertionError

    tr.post = hang  # type: ignore[method-assign]
    task = asyncio.ensure_future(router.chat(ctx(), req()))
    await asyncio.sleep(0.01)
    assert router.balancer.total_in_flight() == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert router.balancer.total_in_flight() == 0 and a.breaker.state == "closed"


# ---- invariants over random fault scripts ------------------------------------------------------

OUTCOMES = st.sampled_from([
    Ok(), Status(500), Status(502), Status(503), Status(429, 0.01), Status(429, 60), Status(400), Status(401),
    Raise(UpstreamUnavailable, "refused", True), Raise(UpstreamTimeout, "slow", True),
    Raise(UpstreamError, "malformed"),
    Stream(["a", "b"]), Stream(["a", "b"], fail_after=0), Stream(["a", "b"], fail_after=1),
])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(1, 3), st.integers(0, 1), st.booleans()), min_size=1, max_size=3),
       st.lists(OUTCOMES, max_size=12), st.booleans(), st.sampled_from(["fallback", "weighted", "least_busy"]),
       st.sampled_from(["try", "refuse"]))
def test_router_invariants(shape, outcomes, stream, strategy, when_all_open):
    clock = Clock()
    targets = [target(f"m{i}", attempts=n, priority=prio, breaker=cb(clock) if guarded else None)
               for i, (n, prio, guarded) in enumerate(shape)]
    script: dict[str, list[object]] = {t.model: [] for t in targets}
    for i, out in enumerate(outcomes):
        script[targets[i % len(targets)].model].append(out)
    router, tr, _ = make(targets, script, when_all_open, strategy)
    c = ctx()

    async def run() -> tuple[str | None, BastionError | None, int]:
        try:
            if stream:
                events = await router.chat_stream(c, req(stream=True))
                calls_at_return = len(tr.calls)
                try:
                    return await collect(events), None, calls_at_return
                except BastionError as e:
                    return None, e, calls_at_return
            resp = await router.chat(c, req())
            return resp.choices[0].text(), None, len(tr.calls)
        except BastionError as e:
            return None, e, -1

    text, err, calls_at_return = asyncio.run(run())
    assert len(tr.calls) <= sum(t.retry.attempts for t in targets) * 2  # at most two passes
    assert router.balancer.total_in_flight() == 0
    assert all(s.closed for s in tr.streams)
    if calls_at_return >= 0:
        assert len(tr.calls) == calls_at_return  # nothing is tried once the answer is handed over
        assert c.attempts[-1].outcome == "ok"
    if text is not None:
        assert text in ("hi", "ab")
    ok_or_skip = {"ok", "circuit_open", "unsupported"}
    assert len([a for a in c.attempts if a.outcome not in {"circuit_open"}]) == len(tr.calls)
    for a in c.attempts[:-1]:
        assert a.outcome in ok_or_skip or a.status in (429, 500, 502, 503, 504) or a.outcome.startswith("upstream")
    if err is not None and calls_at_return < 0 and err.status == 400:
        assert c.attempts[-1].status == 400  # a client error stops the walk: nothing was tried after it
    for t in targets:
        if t.breaker is not None:
            assert probes(t.breaker) == 0
