"""CPU per stream of the stream codecs on the gateway bench's streams (OpenAI: 20 events; Anthropic: 22):
SSE parsing, decoding (canonical events) and encoding for the client, each alone and together.

Usage: .venv/bin/python bench/bench_stream_codec.py [--n 3000]
Feeds the events one upstream read each (the bench's fake upstream writes them so); best of 5.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))

from upstream import WORDS, anthropic_events, openai_events

from bastion.core.types import ChatRequest, Message
from bastion.providers.anthropic.format import ANTHROPIC
from bastion.providers.openai.stream import ChunkDecoder, ChunkEncoder
from bastion.providers.sse import SSEParser

EVENTS = openai_events(WORDS)


def sse_only() -> None:
    p = SSEParser()
    for ev in EVENTS:
        p.feed(ev)


def sse_and_decode() -> None:
    p, d = SSEParser(), ChunkDecoder()
    for ev in EVENTS:
        for name, data in p.feed(ev):
            d.feed(name, data)


def sse_decode_encode() -> None:
    p, d, e = SSEParser(), ChunkDecoder(), ChunkEncoder("gpt-4o-mini", True)
    for ev in EVENTS:
        for name, data in p.feed(ev):
            for c in d.feed(name, data):
                e.encode(c)


A_EVENTS = anthropic_events(WORDS)
A_REQUEST = ChatRequest(model="claude-sonnet-4-5", messages=[Message(role="user", content="hi")], stream=True)


def anthropic_sse_decode_encode() -> None:
    p, d = SSEParser(), ANTHROPIC.stream_decoder()
    e = ANTHROPIC.stream_encoder(A_REQUEST, "claude-sonnet-4-5")
    for ev in A_EVENTS:
        for name, data in p.feed(ev):
            for c in d.feed(name, data):
                e.encode(c)


def anthropic_sse_and_decode() -> None:
    p, d = SSEParser(), ANTHROPIC.stream_decoder()
    for ev in A_EVENTS:
        for name, data in p.feed(ev):
            d.feed(name, data)


_DATA = [data for ev in EVENTS for _, data in SSEParser().feed(ev)]


def json_loads_only() -> None:
    for data in _DATA:
        if not data.startswith(b"[DONE]"):
            orjson.loads(data)


def best(fn: Callable[[], None], n: int) -> float:
    for _ in range(200):
        fn()
    out = float("inf")
    for _ in range(5):
        t = time.process_time()
        for _ in range(n):
            fn()
        out = min(out, (time.process_time() - t) / n * 1e6)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=3000)
    n = ap.parse_args().n
    print(f"{len(EVENTS)} events, {sum(map(len, EVENTS))} bytes per stream; CPU µs per stream (best of 5 x {n})")
    for fn in (sse_only, json_loads_only, sse_and_decode, sse_decode_encode, anthropic_sse_and_decode,
               anthropic_sse_decode_encode):
        print(f"  {fn.__name__:<28} {best(fn, n):8.1f}")


if __name__ == "__main__":
    main()
