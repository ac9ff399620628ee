"""Asyncio HTTP clients wrk cannot replace: stream timing (TTFT, full stream) and the soak mix.

  streams.py ttft --url U --body F --key K --seconds S [--concurrency C]
  streams.py soak --base U --key K --n N --concurrency C --bodies DIR
Each prints one line `BENCH_JSON {...}` (soak also prints progress lines `BENCH_PROGRESS n`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import time
from pathlib import Path

import aiohttp

MARKER = b"Bench"
UNIQUE = b"@@N@@"


class Bodies:
    """The body with its per-request marker replaced by `<tag>-<n>` (see bodies.py)."""

    def __init__(self, body: bytes, tag: str) -> None:
        self.head, sep, self.tail = body.partition(UNIQUE)
        self.plain = None if sep else body
        self.tag = tag.encode()
        self.n = 0

    def next(self) -> bytes:
        if self.plain is not None:
            return self.plain
        self.n += 1
        return self.head + self.tag + b"-" + str(self.n).encode() + self.tail


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, round(q / 100 * (len(s) - 1)))]


async def one_stream(s: aiohttp.ClientSession, url: str, body: bytes, hdrs: dict[str, str],
                     cut: bool = False) -> tuple[float, float]:
    """(seconds to the first text token, seconds to the end of the stream); cut closes at the first."""
    t0 = time.perf_counter()
    ttft = 0.0
    seen = b""
    async with s.post(url, data=body, headers=hdrs) as r:
        if r.status != 200:
            await r.read()
            raise RuntimeError(f"status {r.status}")
        async for chunk in r.content.iter_any():
            if not ttft:
                seen = seen[-8:] + chunk
                if MARKER in seen:
                    ttft = time.perf_counter() - t0
                    if cut:
                        r.close()  # drop the connection mid-stream, as a client that goes away
                        return ttft, ttft
    if not ttft:
        raise RuntimeError("stream ended without the first token")
    return ttft, time.perf_counter() - t0


def headers(key: str) -> dict[str, str]:
    return {"content-type": "application/json", "authorization": f"Bearer {key}",
            "anthropic-version": "2023-06-01"}


async def ttft(a: argparse.Namespace, raw: bytes) -> dict[str, float]:
    hdrs = headers(a.key)
    bodies = Bodies(raw, a.tag)
    firsts: list[float] = []
    fulls: list[float] = []
    errors = 0
    conn = aiohttp.TCPConnector(limit=a.concurrency)
    async with aiohttp.ClientSession(connector=conn) as s:
        for _ in range(5):  # warm the pools
            await one_stream(s, a.url, bodies.next(), hdrs)
        deadline = time.perf_counter() + a.seconds

        async def worker() -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                try:
                    f, full = await one_stream(s, a.url, bodies.next(), hdrs)
                    firsts.append(f)
                    fulls.append(full)
                except (RuntimeError, aiohttp.ClientError):
                    errors += 1

        await asyncio.gather(*(worker() for _ in range(a.concurrency)))
    ms = 1000.0
    return {"n": len(firsts), "errors": errors, "ttft_p50_ms": pct(firsts, 50) * ms,
            "ttft_p99_ms": pct(firsts, 99) * ms, "full_p50_ms": pct(fulls, 50) * ms,
            "full_p99_ms": pct(fulls, 99) * ms,
            "full_mean_ms": statistics.fmean(fulls) * ms if fulls else float("nan")}


def soak_kinds(bodies: Path, tag: str) -> list[tuple[Bodies, bool, bool]]:
    """(bodies, streamed, cut): 70 % non-streamed, 20 % streamed to the end, 10 % cut by the client."""
    plain, stream, long = (Bodies((bodies / n).read_bytes(), tag)
                           for n in ("openai.json", "openai_stream.json", "openai_long.json"))
    return [(plain, False, False)] * 7 + [(stream, True, False)] * 2 + [(long, True, True)]


async def soak(a: argparse.Namespace, kinds: list[tuple[Bodies, bool, bool]]) -> dict[str, float]:
    url, hdrs = a.base + "/v1/chat/completions", headers(a.key)
    rng = random.Random(6)
    counts = {"ok": 0, "cut": 0, "errors": 0}
    issued = 0
    conn = aiohttp.TCPConnector(limit=a.concurrency)
    t0 = time.perf_counter()
    async with aiohttp.ClientSession(connector=conn) as s:

        async def worker() -> None:
            nonlocal issued
            while issued < a.n and time.perf_counter() - t0 < a.max_seconds:
                issued += 1
                if issued % 10000 == 0:
                    print(f"BENCH_PROGRESS {issued}", flush=True)
                source, streamed, cut = rng.choice(kinds)
                body = source.next()
                try:
                    if streamed:
                        await one_stream(s, url, body, hdrs, cut=cut)
                    else:
                        async with s.post(url, data=body, headers=hdrs) as r:
                            await r.read()
                            if r.status != 200:
                                raise RuntimeError(f"status {r.status}")
                    counts["cut" if cut else "ok"] += 1
                except (TimeoutError, RuntimeError, aiohttp.ClientError):
                    counts["errors"] += 1

        await asyncio.gather(*(worker() for _ in range(a.concurrency)))
    return {**counts, "seconds": time.perf_counter() - t0}


def main() -> None:
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("ttft")
    t.add_argument("--url", required=True)
    t.add_argument("--body", required=True)
    t.add_argument("--key", required=True)
    t.add_argument("--seconds", type=float, default=3.0)
    t.add_argument("--concurrency", type=int, default=1)
    t.add_argument("--tag", default="t", help="per-request marker prefix (see bodies.py)")
    k = sub.add_parser("soak")
    k.add_argument("--base", required=True)
    k.add_argument("--key", required=True)
    k.add_argument("--bodies", required=True)
    k.add_argument("--n", type=int, required=True)
    k.add_argument("--concurrency", type=int, default=32)
    k.add_argument("--max-seconds", type=float, default=3600.0)
    k.add_argument("--tag", default="s", help="per-request marker prefix (see bodies.py)")
    a = p.parse_args()
    coro = ttft(a, Path(a.body).read_bytes()) if a.cmd == "ttft" else soak(a, soak_kinds(Path(a.bodies), a.tag))
    try:
        import uvloop
        result = uvloop.run(coro)
    except ImportError:
        result = asyncio.run(coro)
    print("BENCH_JSON " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
