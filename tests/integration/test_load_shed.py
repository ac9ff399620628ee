"""Overload and shutdown: at twice the rate it can serve, the gateway sheds the excess at once with
503 + Retry-After instead of queueing, keeps serving what it admitted at a bounded latency and
memory, and recovers at once; on SIGTERM it stops accepting and drains its streams.

The load is loopback only, open-loop (requests are sent on schedule whatever the answers) and
stops by itself after a few seconds. Capacity is set by the configuration, not by the machine:
max_in_flight requests, each held ~0.2 s by the fake upstream, so 40 requests/s.
"""

from __future__ import annotations

import asyncio
import resource
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import httpx
import pytest

from tests.fakes.reply import Reply
from tests.fakes.upstream import FakeUpstream
from tests.gateway import Gateway, base_config
from tests.integration.inprocess import InProcessGateway

pytestmark = pytest.mark.timeout(60)

MAX_IN_FLIGHT = 8
UPSTREAM_DELAY = 0.2
CAPACITY = MAX_IN_FLIGHT / UPSTREAM_DELAY  # requests per second
OFFERED = 2 * CAPACITY
DURATION = 2.5
MSG = [{"role": "user", "content": "hi"}]


@pytest.fixture
def loaded(fake_upstream: FakeUpstream, tmp_path: Path) -> Iterator[InProcessGateway]:
    cfg = base_config(fake_upstream.url, tmp_path, server={"max_in_flight": MAX_IN_FLIGHT,
                                                          "overload_retry_after_seconds": 1})
    fake_upstream.always("openai.chat", Reply(text="ok", delay_before_headers=UPSTREAM_DELAY))
    with InProcessGateway(cfg) as gw:
        yield gw


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def test_twice_the_capacity_is_shed_fast_and_recovers_at_once(loaded: InProcessGateway):
    gw = loaded
    key = gw.create_key(name="load")
    peak = {"in_flight": 0, "upstream": 0}
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak["in_flight"] = max(peak["in_flight"], gw.app.in_flight)
            peak["upstream"] = max(peak["upstream"], gw.gateway.transport.stats.in_flight)
            time.sleep(0.002)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    results: list[tuple[int, float, str | None, str]] = []
    before = rss_mb()
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=10)) as session:
        async def one() -> None:
            t0 = time.perf_counter()
            async with session.post(f"{gw.url}/v1/chat/completions", json={"model": "gpt-4o-mini", "messages": MSG},
                                    headers={"authorization": f"Bearer {key}"}) as r:
                body = await r.text()
                results.append((r.status, time.perf_counter() - t0, r.headers.get("retry-after"), body))

        tasks = []
        start = time.perf_counter()
        n = int(OFFERED * DURATION)
        for i in range(n):
            delay = start + i / OFFERED - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.ensure_future(one()))
            if i == n // 2:
                async with session.get(f"{gw.url}/healthz") as h:  # health stays answerable under overload
                    assert h.status == 200
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - start
        # recovery: the very next request is served
        async with session.post(f"{gw.url}/v1/chat/completions", json={"model": "gpt-4o-mini", "messages": MSG},
                                headers={"authorization": f"Bearer {key}"}) as r:
            assert r.status == 200
    stop.set()
    sampler.join()
    grown = rss_mb() - before

    ok = [lat for s, lat, _, _ in results if s == 200]
    shed = [(lat, ra, body) for s, lat, ra, body in results if s == 503]
    assert len(ok) + len(shed) == len(results) == n, {s for s, *_ in results}
    assert shed and all(ra == "1" and '"overloaded"' in body for _, ra, body in shed)
    assert len(ok) >= 0.6 * CAPACITY * DURATION  # it kept serving at about its capacity
    assert peak["in_flight"] <= MAX_IN_FLIGHT and peak["upstream"] <= MAX_IN_FLIGHT  # nothing queued past the limit
    shed_lat = sorted(lat for lat, _, _ in shed)
    ok_lat = sorted(ok)
    assert shed_lat[len(shed_lat) // 2] < UPSTREAM_DELAY  # refusals do not wait for capacity
    assert ok_lat[-1] < 5 * UPSTREAM_DELAY  # admitted requests did not queue behind others
    assert grown < 50, f"RSS grew by {grown:.0f} MB"
    print(f"\noffered {n / elapsed:.0f} req/s for {elapsed:.1f}s (capacity {CAPACITY:.0f}/s): {len(ok)} served, "
          f"{len(shed)} shed; shed p50 {shed_lat[len(shed_lat) // 2] * 1000:.1f} ms, "
          f"served p50 {ok_lat[len(ok_lat) // 2] * 1000:.0f} ms max {ok_lat[-1] * 1000:.0f} ms; "
          f"peak in flight {peak['in_flight']}; RSS +{grown:.1f} MB")


# ---- graceful shutdown under load ------------------------------------------------------------------

def _stream(url: str, key: str, out: list[str], started: threading.Event) -> None:
    text = ""
    try:
        with httpx.stream("POST", f"{url}/v1/chat/completions", headers={"authorization": f"Bearer {key}"},
                          json={"model": "gpt-4o-mini", "messages": MSG, "stream": True}, timeout=20) as r:
            for line in r.iter_lines():
                started.set()
                text += line + "\n"
    except httpx.HTTPError as e:
        text += f"<{type(e).__name__}>"
    out.append(text)


def _streams(gw: Gateway, key: str, n: int) -> tuple[list[threading.Thread], list[str]]:
    out: list[str] = []
    threads = []
    for _ in range(n):
        started = threading.Event()
        t = threading.Thread(target=_stream, args=(gw.url, key, out, started), daemon=True)
        t.start()
        assert started.wait(10)
        threads.append(t)
    return threads, out


def test_sigterm_stops_accepting_and_drains_streams(fake_upstream, tmp_path):
    fake_upstream.always("openai.chat", Reply(stream=[f"w{i} " for i in range(10)], delay_between_chunks=0.1))
    cfg = base_config(fake_upstream.url, tmp_path, server={"shutdown_grace_seconds": 5})
    gw = Gateway(cfg, tmp_path, name="drain").start()
    key = gw.create_key()
    threads, out = _streams(gw, key, 5)
    assert gw.proc is not None
    t0 = time.monotonic()
    gw.proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    with pytest.raises(httpx.ConnectError):  # no longer accepting
        httpx.get(f"{gw.url}/healthz", timeout=2)
    rc = gw.proc.wait(10)
    took = time.monotonic() - t0
    for t in threads:
        t.join(5)
    gw.stop()
    assert rc == 0
    assert len(out) == 5 and all("w9" in s and "[DONE]" in s for s in out), out
    assert took < 5  # it waited for the streams (about 1 s), not for the whole grace period


def test_streams_longer_than_the_grace_period_are_cut_and_the_process_exits(fake_upstream, tmp_path):
    fake_upstream.always("openai.chat", Reply(stream=[f"w{i} " for i in range(100)], delay_between_chunks=0.1))
    cfg = base_config(fake_upstream.url, tmp_path, server={"shutdown_grace_seconds": 1})
    gw = Gateway(cfg, tmp_path, name="cut").start()
    key = gw.create_key()
    threads, out = _streams(gw, key, 3)
    assert gw.proc is not None
    t0 = time.monotonic()
    gw.proc.send_signal(signal.SIGTERM)
    rc = gw.proc.wait(10)
    took = time.monotonic() - t0
    for t in threads:
        t.join(5)
    gw.stop()
    assert rc == 0 and took < 4
    assert len(out) == 3 and not any("[DONE]" in s for s in out)
    assert fake_upstream.wait_for_disconnects(3, timeout=5) >= 3  # the upstream calls were cancelled too
