"""Benchmark: time the default policy adds per request (input scan, and output guard on a stream).

Run: .venv/bin/python bench/bench_policy.py [--quick] [--cpu] [--without-injection] [--only scanners]
Pinned to one CPU. Prints median and p99 per request for 1 kB, 10 kB and 100 kB prompts,
a per-scanner breakdown (normalisation, each input rule's scanner, the rest of the engine),
the output guard on streams (CPU per response and the characters held before the first
release), and a 10-turn conversation (2 kB system prompt, every turn resends the history) with the
input scan cache on (`cache_entries: 4096`, the default) and off (`cache_entries: 0`).
The injection scanner is included when bastion.policy.scanners.injection is importable;
otherwise the run says so and measures the rest of the default policy.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import itertools
import os
import random
import re
import statistics
import time
from collections.abc import AsyncIterator

from bastion.config.policy import DEFAULT_POLICY
from bastion.core.context import RequestContext
from bastion.core.types import ChatRequest, Message, StreamEnd, StreamEvent, TextDelta, TextPart
from bastion.policy.normalize import normalize
from bastion.policy.registry import default_registry
from bastion.policy.scanner import Match
from bastion.policy.stage import PolicyStage

PARAGRAPHS = [
    "Please summarise the following quarterly report for the leadership team and list the three main risks. ",
    "Revenue grew 12% year over year to $4.2M, while operating costs rose 8%, mostly from cloud spend. ",
    "The customer can be reached at the address on file; the ticket was opened on 2024-05-01 at 10:32. ",
    "def handler(event, context):\n    items = [x for x in event['items'] if x['qty'] > 0]\n    return len(items)\n",
    "Version 3.14.2 fixed the build for arm64; see commit 9f2c1ab and issue #4521 for details. ",
    '{"order_id": 88231, "sku": "AB-1234", "qty": 3, "price": 19.99, "currency": "EUR"}\n',
    "Les résultats du trimestre sont bons, mais la marge a baissé de 2 points. Merci de vérifier. ",
    "Write to jane.doe@example.com if anything is unclear, or call the office on (415) 555-2671. ",
]


def prompt(size: int, seed: int) -> str:
    r = random.Random(seed)
    out = []
    n = 0
    while n < size:
        p = r.choice(PARAGRAPHS)
        out.append(p)
        n += len(p)
    return "".join(out)[:size]


class _NoInjection:
    name = "injection"

    def __init__(self, **_: object) -> None:
        pass

    def scan(self, text: str) -> list[Match]:
        return []


WITHOUT_INJECTION = False


def build_stage(cache_entries: int | None = None) -> tuple[PolicyStage, bool]:
    registry = default_registry()
    try:
        if WITHOUT_INJECTION:
            raise LookupError("asked to leave it out")
        registry.create("injection", {"threshold": 0.8})
        real = True
    except Exception:  # the classifier is not there, or left out
        registry = registry.copy()
        registry.register("injection", _NoInjection)
        real = False
    if cache_entries is None:
        return PolicyStage({}, registry=registry), real
    policy = DEFAULT_POLICY.model_copy(update={"options": {"cache_entries": cache_entries}})
    return PolicyStage({"default": policy}, registry=registry), real


CLOCK = time.perf_counter
UNIQUE = itertools.count()  # makes every measured prompt a new text


def percentile(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


async def measure_input(stage: PolicyStage, size: int, runs: int) -> list[float]:
    """Each run's prompt differs (a run number in front): the input scan cache never hits,
    so this is the cost of a real scan plus the cache's look-up."""
    text = prompt(size, size)
    times = []
    for _, i in zip(range(runs), UNIQUE, strict=False):
        req = ChatRequest(model="m", messages=[Message("system", [TextPart("You are a helpful assistant.")]),
                                               Message("user", [TextPart(f"{i} {text}")])])
        ctx = RequestContext(request_id="b", ingress="openai")
        t = CLOCK()
        await stage.check(ctx, req)
        times.append((CLOCK() - t) * 1000)
    return times


def measure_scanners(stage: PolicyStage, size: int, runs: int) -> dict[str, list[float]]:
    """Per run (a new text each time, in ms): normalising it, each input rule's scanner on
    the normalised text, and the whole input scan of the same request (`engine`); the
    engine's own share is the whole minus the parts."""
    engine = stage.policies.engines["default"]
    text = prompt(size, size)
    out: dict[str, list[float]] = {}
    for _, i in zip(range(runs), UNIQUE, strict=False):
        unique = f"{i} {text}"
        t = CLOCK()
        norm = normalize(unique)
        out.setdefault("normalise", []).append((CLOCK() - t) * 1000)
        for rule in engine.input_rules:
            if rule.scanner is None:
                continue
            t = CLOCK()
            rule.scanner.scan(norm.text)
            out.setdefault(rule.name, []).append((CLOCK() - t) * 1000)
        req = ChatRequest(model="m", messages=[Message("user", [TextPart(f"{i}. {text}")])])
        ctx = RequestContext(request_id="b", ingress="openai")
        t = CLOCK()
        engine.scan_request(ctx, req)
        out.setdefault("engine", []).append((CLOCK() - t) * 1000)
    return out


def print_scanners(rows: dict[int, dict[str, list[float]]]) -> None:
    sizes = sorted(rows)
    names = [n for n in rows[sizes[0]] if n != "engine"]
    print("| median ms | " + " | ".join(f"{s // 1024} kB" for s in sizes) + " |")
    print("| --- |" + " ---: |" * len(sizes))
    for name in [*names, "engine (whole input scan)", "engine overhead (whole - parts)"]:
        cells = []
        for s in sizes:
            med = {n: statistics.median(v) for n, v in rows[s].items()}
            if name.startswith("engine (whole"):
                value = med["engine"]
            elif name.startswith("engine overhead"):
                value = med["engine"] - sum(med[n] for n in names)
            else:
                value = med[name]
            cells.append(f"{value:.3f}")
        print(f"| {name} | " + " | ".join(cells) + " |")


def word_deltas(text: str) -> list[str]:
    """Deltas shaped like a model's tokens: each word with the space before it."""
    return [w for w in re.split(r"(?=[ \n])", text) if w]


async def measure_stream(stage: PolicyStage, size: int, runs: int, chunk: int = 4,
                         words: bool = False) -> tuple[list[float], int]:
    """Per run, the guard's time over a whole streamed response (ms), and how many deltas had
    gone in before the first text came out (the hold-back's added time to first token)."""
    text = prompt(size, size + 1)
    pieces = word_deltas(text) if words else [text[i:i + chunk] for i in range(0, len(text), chunk)]
    deltas: list[StreamEvent] = [TextDelta(p) for p in pieces]
    deltas.append(StreamEnd("stop"))
    times = []
    first = 0
    for _ in range(runs):
        ctx = RequestContext(request_id="b", ingress="openai")
        await stage.check(ctx, ChatRequest(model="m", messages=[Message("user", [TextPart("hi")])]))
        pulled = 0
        first = 0

        async def events() -> AsyncIterator[StreamEvent]:
            nonlocal pulled
            for e in deltas:
                pulled += 1
                yield e

        t = CLOCK()
        async for e in stage.guard.guard_stream(ctx, events()):
            if not first and isinstance(e, TextDelta):
                first = pulled
        times.append((CLOCK() - t) * 1000)
    return times, first


# The gateway bench's stream (bench/upstream.py): 16 text deltas, 87 characters.
BENCH_WORDS = ["Bench", " says", " hello", " from", " the", " fake", " upstream;", " this", " reply", " is", " long",
               " enough", " to", " leave", " the", " window."]


async def measure_bench_stream(stage: PolicyStage, runs: int, mode: str) -> tuple[list[float], int]:
    """The guard alone on the gateway bench's stream, in µs of CPU per stream, and the delta
    after which the first text left. `mode`: "events" (guard_stream), "bursts" (guard_bursts,
    one event per upstream read), "burst" (the whole stream in one read)."""
    times, first = [], 0
    for _ in range(runs):
        ctx = RequestContext(request_id="b", ingress="openai")
        await stage.check(ctx, ChatRequest(model="m", messages=[Message("user", [TextPart("hi")])]))
        events: list[StreamEvent] = [*(TextDelta(w) for w in BENCH_WORDS), StreamEnd("stop")]
        pulled, first = 0, 0
        t = CLOCK()
        if mode == "events" or not hasattr(stage.guard, "guard_bursts"):
            async def one_by_one(events: list[StreamEvent] = events) -> AsyncIterator[StreamEvent]:
                nonlocal pulled
                for e in events:
                    pulled += 1
                    yield e

            async for e in stage.guard.guard_stream(ctx, one_by_one()):
                if not first and isinstance(e, TextDelta):
                    first = pulled
        else:
            async def reads(events: list[StreamEvent] = events) -> AsyncIterator[list[StreamEvent]]:
                nonlocal pulled
                for burst in ([events] if mode == "burst" else [[e] for e in events]):
                    pulled += len(burst)
                    yield burst

            async for burst in stage.guard.guard_bursts(ctx, reads()):
                if not first and any(isinstance(e, TextDelta) for e in burst):
                    first = pulled
        times.append((CLOCK() - t) * 1e6)
    return times, first


async def measure_conversation(stage: PolicyStage, runs: int, turns: int = 10) -> tuple[list[float], list[float]]:
    """Per conversation: total time of its `turns` input scans, and the last turn's time.
    Each run is a new conversation (its own 2 kB system prompt): the cache starts cold."""
    totals, last = [], []
    for run in range(runs):
        seed = 1_000_000 + run * 100
        system = f"Conversation {run}. " + prompt(2048, seed)
        history: list[Message] = []
        total = 0.0
        for turn in range(turns):
            history.append(Message("user", [TextPart(prompt(400, seed + 2 * turn + 1))]))
            req = ChatRequest(model="m", messages=copy.deepcopy(history), system=[TextPart(system)])
            ctx = RequestContext(request_id="b", ingress="openai")
            t = CLOCK()
            await stage.check(ctx, req)
            spent = (CLOCK() - t) * 1000
            total += spent
            history.append(Message("assistant", [TextPart(prompt(600, seed + 2 * turn + 2))]))
        totals.append(total)
        last.append(spent)
    return totals, last


async def main(quick: bool, cpu: bool, only: str | None = None) -> None:
    global CLOCK
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    if cpu:
        CLOCK = time.thread_time
    stage, real = build_stage()
    print(f"injection scanner: {'included' if real else 'NOT available, measured without it'}; "
          f"clock: {'thread CPU time' if cpu else 'wall time'}; load average {os.getloadavg()[0]:.2f}")
    scale = 10 if quick else 1
    if only in (None, "scanners"):
        rows = {}
        for size, runs in ((1024, 2000), (10 * 1024, 300), (100 * 1024, 40)):
            measure_scanners(stage, size, 5)  # warm-up
            rows[size] = measure_scanners(stage, size, max(runs // scale, 10))
        print_scanners(rows)
    if only is None:
        for size, runs in ((1024, 3000), (10 * 1024, 600), (100 * 1024, 80)):
            await measure_input(stage, size, 20)  # warm-up
            t = await measure_input(stage, size, max(runs // scale, 10))
            print(f"input  {size // 1024:>4} kB: median {statistics.median(t):.3f} ms  p99 {percentile(t, 0.99):.3f} ms"
                  f"  ({len(t)} runs)")
    if only == "scanners":
        return
    for size, runs in ((1024, 500), (10 * 1024, 60)):
        for words in (False, True):
            t, first = await measure_stream(stage, size, max(runs // scale, 5), words=words)
            shape = "word deltas " if words else "4-char deltas"
            print(f"stream {size // 1024:>4} kB in {shape}: median {statistics.median(t):.3f} ms"
                  f"  p99 {percentile(t, 0.99):.3f} ms per response; first text out after delta {first}")
    for mode in ("events", "bursts", "burst"):
        t, first = await measure_bench_stream(stage, max(2000 // scale, 50), mode)
        print(f"gateway bench stream (16 deltas, 87 chars), guard by {mode:6}: median {statistics.median(t):.1f} µs"
              f"  p99 {percentile(t, 0.99):.1f} µs per stream; first text out after delta {first}")
    if only == "streams":
        return
    for entries in (0, 4096):
        conv_stage, _ = build_stage(entries)
        await measure_conversation(conv_stage, 2)  # warm-up
        totals, last = await measure_conversation(conv_stage, max(100 // scale, 5))
        print(f"conversation 10 turns, 2 kB system, cache_entries {entries:>4}: median {statistics.median(totals):.3f}"
              f" ms per conversation (p99 {percentile(totals, 0.99):.3f}), turn 10 median "
              f"{statistics.median(last):.3f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer runs")
    parser.add_argument("--cpu", action="store_true",
                        help="measure thread CPU time instead of wall time (robust on a busy machine)")
    parser.add_argument("--without-injection", action="store_true",
                        help="replace the injection scanner by a no-op (to see the rest of the policy)")
    parser.add_argument("--only", choices=["scanners", "streams"],
                        help="print only the per-scanner breakdown, or only the output guard on streams")
    args = parser.parse_args()
    WITHOUT_INJECTION = args.without_injection
    asyncio.run(main(args.quick, args.cpu, args.only))
