"""Upstream fault injection: every fault gives the client the right error (or the fallback's answer)
within the configured timeouts, and leaves no task, stream or connection behind.

The gateway runs in process (tests/integration/inprocess.py) so that each test can check, after
it ran, that the gateway's asyncio tasks are back to their baseline and that the transport holds
no open response, stream or in-flight call.
"""

from __future__ import annotations

import socket
import socketserver
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest

from tests.fakes.reply import Reply
from tests.fakes.upstream import FakeUpstream
from tests.gateway import base_config
from tests.integration.inprocess import InProcessGateway, upstream_connections

pytestmark = pytest.mark.timeout(60)

MSG = [{"role": "user", "content": "hello world"}]
FAST = {"connect": 0.3, "first_byte": 0.4, "idle": 0.3, "total": 2}
RETRY = {"attempts": 2, "backoff_base": 0.01, "backoff_max": 0.05}
NO_CIRCUIT = {"enabled": False}
BOUND = 5.0  # every faulted request must be answered well within this (the timeouts are < 0.5 s)


class _Garbage(socketserver.BaseRequestHandler):
    """Answers anything with bytes that are not HTTP."""

    def handle(self) -> None:
        self.request.recv(65536)
        self.request.sendall(b"SSH-2.0-OpenSSH_9.0\r\nthis is not http\r\n\r\n")


@pytest.fixture(scope="module")
def garbage_port() -> Iterator[int]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Garbage)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def _dead_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def fault_config(up: FakeUpstream, tmp: Path, garbage_port: int) -> dict[str, Any]:
    cfg = base_config(up.url, tmp)
    for name in ("openai", "anthropic"):
        cfg["providers"][name].update(timeouts=FAST, retry=RETRY, circuit=NO_CIRCUIT,
                                      max_response_bytes=256 * 1024)
    openai_like = {"kind": "openai_compatible", "timeouts": FAST, "retry": RETRY, "circuit": NO_CIRCUIT}
    cfg["providers"]["dead"] = {**openai_like, "base_url": _dead_url() + "/v1"}
    cfg["providers"]["tls"] = {**openai_like, "base_url": up.url.replace("http://", "https://") + "/v1"}
    cfg["providers"]["garbage"] = {**openai_like, "base_url": f"http://127.0.0.1:{garbage_port}/v1"}
    cfg["providers"]["flaky"] = {**openai_like, "base_url": up.url + "/v1",
                                 "circuit": {"consecutive_failures": 2, "cooldown_seconds": 0.4}}
    cfg["providers"]["flaky2"] = {**openai_like, "base_url": up.url + "/v1",
                                  "circuit": {"consecutive_failures": 2, "cooldown_seconds": 30}}
    oa, an = {"provider": "openai", "model": "gpt-4o-mini"}, {"provider": "anthropic", "model": "claude-sonnet-4-6"}
    cfg["models"] += [
        {"name": "solo", "targets": [oa]},
        {"name": "duo", "targets": [oa, an]},
        {"name": "dead", "targets": [{"provider": "dead", "model": "m"}]},
        {"name": "dead-duo", "targets": [{"provider": "dead", "model": "m"}, an]},
        {"name": "tls", "targets": [{"provider": "tls", "model": "m"}]},
        {"name": "garbage", "targets": [{"provider": "garbage", "model": "m"}]},
        {"name": "garbage-duo", "targets": [{"provider": "garbage", "model": "m"}, an]},
        {"name": "cb", "targets": [{"provider": "flaky", "model": "m-cb"}, an]},
        {"name": "cb-refuse", "when_all_open": "refuse", "targets": [{"provider": "flaky2", "model": "m-refuse"}]},
        {"name": "cb-try", "targets": [{"provider": "flaky2", "model": "m-try"}]},
        {"name": "lb", "strategy": "weighted", "targets": [{"provider": "openai", "model": "lb-a"},
                                                            {"provider": "openai", "model": "lb-b"}]},
        {"name": "lb-busy", "strategy": "least_busy", "targets": [{"provider": "openai", "model": "busy-a"},
                                                                   {"provider": "openai", "model": "busy-b"}]},
    ]
    return cfg


@pytest.fixture(scope="module")
def gw(fake_upstream_server: FakeUpstream, module_tmp: Path, garbage_port: int) -> Iterator[InProcessGateway]:
    with InProcessGateway(fault_config(fake_upstream_server, module_tmp, garbage_port)) as g:
        yield g


@pytest.fixture(scope="module")
def key(gw: InProcessGateway) -> str:
    return gw.create_key(name="faults")


@pytest.fixture(scope="module")
def baseline(gw: InProcessGateway, key: str, fake_upstream_server: FakeUpstream) -> int:
    """Idle task count, after one request opened the transport's sessions."""
    fake_upstream_server.reset()
    httpx.post(f"{gw.url}/v1/chat/completions", headers={"authorization": f"Bearer {key}"},
               json={"model": "solo", "messages": MSG}, timeout=10).raise_for_status()
    time.sleep(0.1)
    return gw.task_count()


@pytest.fixture(autouse=True)
def no_leaks(gw: InProcessGateway, baseline: int, fake_upstream: FakeUpstream,
             request: pytest.FixtureRequest) -> Iterator[None]:
    conns = upstream_connections(fake_upstream.port)
    yield
    left = gw.quiet(baseline)
    assert not any(left.values()), f"left behind after the test: {left}"
    # Faulted connections are closed, not pooled: the pool may keep at most one idle connection per
    # request that ran at the same time (a test's `parallel` attribute), plus slack for reuse.
    parallel = getattr(request.function, "parallel", 0)
    assert upstream_connections(fake_upstream.port) <= conns + 4 + parallel


@pytest.fixture
def oa(gw: InProcessGateway, key: str) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{gw.url}/v1", api_key=key, max_retries=0, timeout=20) as c:
        yield c


@pytest.fixture
def an(gw: InProcessGateway, key: str) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=gw.url, api_key=key, max_retries=0, timeout=20) as c:
        yield c


class Clock:
    def __enter__(self) -> Clock:
        self.t0 = time.monotonic()
        return self

    def __exit__(self, *exc: object) -> None:
        self.elapsed = time.monotonic() - self.t0


def status_of(oa: openai.OpenAI, model: str, **kw: Any) -> tuple[int, float, Any]:
    with Clock() as c:
        try:
            oa.chat.completions.create(model=model, messages=MSG, **kw)
            status, err = 200, None
        except openai.APIStatusError as e:
            status, err = e.status_code, e
    assert c.elapsed < BOUND, f"{model}: answered after {c.elapsed:.2f}s"
    return status, c.elapsed, err


def stream_text(oa: openai.OpenAI, model: str) -> tuple[str, Exception | None]:
    """The streamed text and the error that ended the stream, if any."""
    text, err = "", None
    with Clock() as c:
        try:
            for chunk in oa.chat.completions.create(model=model, messages=MSG, stream=True):
                if chunk.choices and chunk.choices[0].delta.content:
                    text += chunk.choices[0].delta.content
        except (openai.APIError, httpx.HTTPError) as e:
            err = e
    assert c.elapsed < BOUND, f"{model}: stream ended after {c.elapsed:.2f}s"
    return text, err


# ---- connection-level faults -----------------------------------------------------------------

def test_connection_refused_is_503_and_falls_back(oa, fake_upstream):
    status, _, err = status_of(oa, "dead")
    assert status == 503 and err.body["code"] == "upstream_unavailable"
    r = oa.chat.completions.create(model="dead-duo", messages=MSG)
    assert r.choices[0].message.content == "echo: hello world"


def test_tls_handshake_failure_is_5xx(oa):
    status, _, _ = status_of(oa, "tls")
    assert status in (502, 503)


def test_upstream_that_does_not_speak_http_is_502_and_falls_back(oa):
    status, _, err = status_of(oa, "garbage")
    assert status == 502 and err.body["code"] == "upstream_error"
    r = oa.chat.completions.create(model="garbage-duo", messages=MSG)
    assert r.choices[0].message.content == "echo: hello world"


def test_reset_mid_body_is_retried_then_502(oa, fake_upstream):
    fake_upstream.always("openai.chat", Reply(text="x" * 5000, drop_after_chunks=0))
    status, _, _ = status_of(oa, "solo")
    assert status == 502
    assert len(fake_upstream.requests_for("openai.chat")) == 2  # retried once, as configured


def test_reset_mid_body_falls_back(oa, fake_upstream):
    fake_upstream.always("openai.chat", Reply(text="x" * 5000, drop_after_chunks=0))
    r = oa.chat.completions.create(model="duo", messages=MSG)
    assert r.choices[0].message.content == "echo: hello world"
    assert fake_upstream.last("anthropic.messages").json["model"] == "claude-sonnet-4-6"


def test_drop_before_headers_is_502(oa, fake_upstream):
    fake_upstream.always("openai.chat", Reply(drop_before_headers=True))
    status, _, _ = status_of(oa, "solo")
    assert status == 502


# ---- status faults ---------------------------------------------------------------------------

@pytest.mark.parametrize("upstream,expected", [(500, 502), (502, 502), (503, 503), (504, 502)])
def test_5xx_maps_and_falls_back(oa, fake_upstream, upstream, expected):
    fake_upstream.always("openai.chat", Reply.error(upstream, "provider trouble"))
    status, _, _ = status_of(oa, "solo")
    assert status == expected
    assert len(fake_upstream.requests_for("openai.chat")) == 2
    fake_upstream.clear()
    r = oa.chat.completions.create(model="duo", messages=MSG)
    assert r.choices[0].message.content == "echo: hello world"


def test_429_with_long_retry_after_is_passed_on_without_retrying(oa, fake_upstream):
    fake_upstream.always("openai.chat", Reply.error(429, "slow down", retry_after=7))
    status, _, err = status_of(oa, "solo")
    assert status == 429
    assert int(err.response.headers["retry-after"]) >= 7
    assert len(fake_upstream.requests_for("openai.chat")) == 1  # 7 s > backoff_max: no point waiting


def test_429_with_short_retry_after_is_honoured_then_succeeds(oa, fake_upstream):
    fake_upstream.script("openai.chat", Reply.error(429, "slow down", retry_after=0.03))
    r = oa.chat.completions.create(model="solo", messages=MSG)
    assert r.choices[0].message.content == "echo: hello world"
    first, second = fake_upstream.requests_for("openai.chat")
    assert second.number > first.number


def test_429_falls_back(oa, fake_upstream):
    fake_upstream.always("openai.chat", Reply.error(429, "slow down", retry_after=30))
    r = oa.chat.completions.create(model="duo", messages=MSG)
    assert r.choices[0].message.content == "echo: hello world"


# ---- timing faults ---------------------------------------------------------------------------

def test_slow_first_byte_is_504_within_the_timeout(oa, fake_upstream):
    fake_upstream.always("openai.chat", Reply(text="late", delay_before_headers=3))
    status, elapsed, _ = status_of(oa, "solo")
    assert status == 504
    assert elapsed < 2 * (FAST["first_byte"] + FAST["connect"]) + 0.5


def test_slow_first_byte_falls_back(oa, fake_upstream):
    fake_upstream.always("openai.chat", Reply(text="late", delay_before_headers=3))
    r = oa.chat.completions.create(model="duo", messages=MSG)
    assert r.choices[0].message.content == "echo: hello world"


def test_stream_stalling_after_content_ends_with_an_error_event(oa, fake_upstream):
    fake_upstream.always("openai.chat", Reply(stream=["a ", "b ", "c"], stall_after_chunks=1))
    text, err = stream_text(oa, "duo")
    assert "a ".startswith(text) and err is not None  # the output guard may hold back the last words
    assert fake_upstream.requests_for("anthropic.messages") == []  # the stream was handed over: no fallback


def test_stream_stalling_before_content_falls_back(oa, fake_upstream):
    fake_upstream.always("openai.chat", Reply(stream=["a ", "b "], stall_after_chunks=0))
    text, err = stream_text(oa, "duo")
    assert err is None and text == "echo: hello world"


def test_stream_stalling_before_content_is_504_on_a_single_target(oa, fake_upstream):
    fake_upstream.always("openai.chat", Reply(stream=["a ", "b "], stall_after_chunks=0))
    _, err = stream_text(oa, "solo")
    assert isinstance(err, openai.APIStatusError) and err.status_code == 504  # not a 200 with an error inside


# ---- broken streams --------------------------------------------------------------------------

def test_stream_reset_after_content_never_falls_back(oa, fake_upstream):
    fake_upstream.always("openai.chat", Reply(stream=["one ", "two ", "three"], drop_after_chunks=2))
    text, err = stream_text(oa, "duo")
    assert "one two ".startswith(text) and err is not None
    assert fake_upstream.requests_for("anthropic.messages") == []


def test_stream_reset_before_content_falls_back(oa, fake_upstream):
    fake_upstream.always("openai.chat", Reply(stream=["one ", "two "], drop_after_chunks=0))
    text, err = stream_text(oa, "duo")
    assert err is None and text == "echo: hello world"


def test_openai_stream_without_done_ends_with_an_error_event(oa, fake_upstream):
    fake_upstream.always("openai.chat", Reply(stream=["a ", "b"], end_without_done=True))
    text, err = stream_text(oa, "solo")
    assert "a b".startswith(text) and err is not None


def test_anthropic_stream_without_message_stop_ends_with_an_error_event(an, fake_upstream):
    fake_upstream.always("anthropic.messages", Reply(stream=["a ", "b"], end_without_done=True))
    got = ""
    with pytest.raises((anthropic.APIError, httpx.HTTPError)):
        with an.messages.stream(model="claude-sonnet-4-6", max_tokens=20, messages=MSG) as s:
            for t in s.text_stream:
                got += t
    assert "a b".startswith(got)


def test_malformed_sse_before_content_is_502_or_the_fallback(oa, fake_upstream):
    fake_upstream.always("openai.chat", Reply(raw=[b"data: {this is not json\n\n"]))
    _, err = stream_text(oa, "solo")
    assert isinstance(err, openai.APIStatusError) and err.status_code == 502
    text, err = stream_text(oa, "duo")
    assert err is None and text == "echo: hello world"


def test_malformed_sse_after_content_ends_with_an_error_event(oa, fake_upstream):
    good = (b'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":'
            b'[{"index":0,"delta":{"role":"assistant","content":"ok "},"finish_reason":null}]}\n\n')
    fake_upstream.always("openai.chat", Reply(raw=[good, b"data: [1, 2\n\n"]))
    text, err = stream_text(oa, "duo")
    assert "ok ".startswith(text) and err is not None
    assert fake_upstream.requests_for("anthropic.messages") == []


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2, 3]", b'{"choices": "nope"}', b""])
def test_malformed_json_is_502_and_falls_back(oa, fake_upstream, raw):
    fake_upstream.always("openai.chat", Reply(raw=raw))
    status, _, _ = status_of(oa, "solo")
    assert status == 502
    r = oa.chat.completions.create(model="duo", messages=MSG)
    assert r.choices[0].message.content == "echo: hello world"


def test_huge_response_is_refused_and_falls_back(oa, fake_upstream):
    fake_upstream.always("openai.chat", Reply(text="x" * (1024 * 1024)))
    status, _, err = status_of(oa, "solo")
    assert status == 502 and "exceeds" in err.message
    r = oa.chat.completions.create(model="duo", messages=MSG)
    assert r.choices[0].message.content == "echo: hello world"


def test_huge_stream_is_cut_with_an_error_event(oa, fake_upstream):
    fake_upstream.always("openai.chat", Reply(stream=["y" * 100_000] * 10))
    text, err = stream_text(oa, "solo")
    assert err is not None and len(text) <= 256 * 1024


def test_client_gone_mid_stream_releases_everything(gw, key, fake_upstream):
    fake_upstream.always("openai.chat", Reply(stream=[f"w{i} " for i in range(200)], delay_between_chunks=0.02))
    with httpx.stream("POST", f"{gw.url}/v1/chat/completions", headers={"authorization": f"Bearer {key}"},
                      json={"model": "solo", "messages": MSG, "stream": True}, timeout=10) as r:
        it = r.iter_bytes()
        next(it)
    assert fake_upstream.wait_for_disconnects(1, timeout=5) >= 1


def test_many_concurrent_faults_leave_nothing_behind(gw, key, fake_upstream):
    """A mix of every fault at once: each request ends, and the no_leaks check then sees zero."""
    faults = [Reply(drop_after_chunks=0, text="x" * 3000), Reply.error(500), Reply(delay_before_headers=1),
              Reply(stream=["a", "b"], stall_after_chunks=1), Reply(raw=b"{bad"), Reply()]
    fake_upstream.script("openai.chat", *(faults * 4))
    results: list[int] = []

    def one(i: int) -> None:
        body = {"model": "solo", "messages": MSG, "stream": i % 2 == 0}
        try:
            with httpx.stream("POST", f"{gw.url}/v1/chat/completions", headers={"authorization": f"Bearer {key}"},
                              json=body, timeout=BOUND) as r:
                r.read()
                results.append(r.status_code)
        except httpx.HTTPError:
            results.append(-1)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(BOUND + 2)
    assert len(results) == 24 and -1 not in results


test_many_concurrent_faults_leave_nothing_behind.parallel = 24  # type: ignore[attr-defined]


# ---- circuit breakers and load balancing ----------------------------------------------------

def circuit(gw: InProcessGateway, provider: str, model: str) -> str:
    return {(p, m): st for p, m, st in gw.gateway.router.circuits()}[(provider, model)]


def test_open_circuit_diverts_to_the_fallback_then_a_probe_closes_it(gw, oa, fake_upstream):
    fake_upstream.always("openai.chat", Reply.error(500, "down"))
    r = oa.chat.completions.create(model="cb", messages=MSG)  # 2 failures open the circuit, then fallback
    assert r.choices[0].message.content == "echo: hello world"
    assert circuit(gw, "flaky", "m-cb") == "open"
    fake_upstream.clear()
    r = oa.chat.completions.create(model="cb", messages=MSG)
    assert r.choices[0].message.content == "echo: hello world"
    assert fake_upstream.requests_for("openai.chat") == []  # the open target was skipped, not tried
    fake_upstream.always("openai.chat", None)
    time.sleep(0.45)  # the cool-down
    assert circuit(gw, "flaky", "m-cb") == "half_open"
    fake_upstream.clear()
    oa.chat.completions.create(model="cb", messages=MSG)
    assert fake_upstream.last("openai.chat").json["model"] == "m-cb"  # the probe went to the target
    assert circuit(gw, "flaky", "m-cb") == "closed"


def test_when_all_open_refuse_fails_fast_with_retry_after(oa, fake_upstream):
    fake_upstream.always("openai.chat", Reply.error(500, "down"))
    status, _, _ = status_of(oa, "cb-refuse")
    assert status == 502
    fake_upstream.clear()
    status, _, err = status_of(oa, "cb-refuse")
    assert status == 503 and err.body["code"] == "circuit_open"
    assert 1 <= int(err.response.headers["retry-after"]) <= 30
    assert fake_upstream.requests == []


def test_when_all_open_try_still_calls_the_target_and_recovers(gw, oa, fake_upstream):
    fake_upstream.always("openai.chat", Reply.error(500, "down"))
    status_of(oa, "cb-try")
    assert circuit(gw, "flaky2", "m-try") == "open"
    fake_upstream.always("openai.chat", None)
    r = oa.chat.completions.create(model="cb-try", messages=MSG)
    assert r.choices[0].message.content == "echo: hello world"
    assert circuit(gw, "flaky2", "m-try") == "closed"


def test_weighted_strategy_uses_every_target(oa, fake_upstream):
    for _ in range(30):
        oa.chat.completions.create(model="lb", messages=MSG)
    seen = {r.model for r in fake_upstream.requests_for("openai.chat")}
    assert seen == {"lb-a", "lb-b"}  # 2**-29 chance of a false failure


def test_least_busy_strategy_avoids_the_target_with_a_stream_open(gw, key, fake_upstream):
    # the stream holds its target for 20 x 0.1 s: the 3 requests below must all be routed within that
    # (at 20 x 0.02 s a loaded host once let the stream end first, freeing its target)
    fake_upstream.script("openai.chat", Reply(stream=[f"w{i} " for i in range(20)], delay_between_chunks=0.1))
    with httpx.stream("POST", f"{gw.url}/v1/chat/completions", headers={"authorization": f"Bearer {key}"},
                      json={"model": "lb-busy", "messages": MSG, "stream": True}, timeout=10) as r:
        it = r.iter_bytes()
        next(it)  # the first stream is open and holds its target
        busy = fake_upstream.last("openai.chat").model
        for _ in range(3):
            httpx.post(f"{gw.url}/v1/chat/completions", headers={"authorization": f"Bearer {key}"},
                       json={"model": "lb-busy", "messages": MSG}, timeout=10).raise_for_status()
        later = [q.model for q in fake_upstream.requests_for("openai.chat")[1:]]
        for _ in it:
            pass
    assert busy in ("busy-a", "busy-b") and later and busy not in later
