"""Benchmark: time the default policy adds per request (input scan, and output guard on a stream).

Run: .venv/bin/python bench/bench_policy.py [--quick]
Pinned to one CPU. Prints median and p99 per request for 1 kB, 10 kB and 100 kB prompts,
and a 10-turn conversation (2 kB system prompt, every turn resends the history) with the
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
import statistics
import time
from collections.abc import AsyncIterator

from bastion.config.policy import DEFAULT_POLICY
from bastion.core.context import RequestContext
from bastion.core.types import ChatRequest, Message, StreamEnd, StreamEvent, TextDelta, TextPart
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


async def measure_stream(stage: PolicyStage, size: int, runs: int, chunk: int = 4) -> list[float]:
    text = prompt(size, size + 1)
    deltas: list[StreamEvent] = [TextDelta(text[i:i + chunk]) for i in range(0, len(text), chunk)]
    deltas.append(StreamEnd("stop"))
    times = []
    for _ in range(runs):
        ctx = RequestContext(request_id="b", ingress="openai")
        await stage.check(ctx, ChatRequest(model="m", messages=[Message("user", [TextPart("hi")])]))

        async def events() -> AsyncIterator[StreamEvent]:
            for e in deltas:
                yield e

        t = CLOCK()
        async for _ in stage.guard.guard_stream(ctx, events()):
            pass
        times.append((CLOCK() - t) * 1000)
    return times


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


async def main(quick: bool, cpu: bool) -> None:
    global CLOCK
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    if cpu:
        CLOCK = time.thread_time
    stage, real = build_stage()
    print(f"injection scanner: {'included' if real else 'NOT available, measured without it'}; "
          f"clock: {'thread CPU time' if cpu else 'wall time'}; load average {os.getloadavg()[0]:.2f}")
    scale = 10 if quick else 1
    for size, runs in ((1024, 3000), (10 * 1024, 600), (100 * 1024, 80)):
        await measure_input(stage, size, 20)  # warm-up
        t = await measure_input(stage, size, max(runs // scale, 10))
        print(f"input  {size // 1024:>4} kB: median {statistics.median(t):.3f} ms  p99 {percentile(t, 0.99):.3f} ms"
              f"  ({len(t)} runs)")
    for size, runs in ((1024, 500), (10 * 1024, 60)):
        t = await measure_stream(stage, size, max(runs // scale, 5))
        print(f"stream {size // 1024:>4} kB in 4-char deltas: median {statistics.median(t):.3f} ms"
              f"  p99 {percentile(t, 0.99):.3f} ms per response")
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
    args = parser.parse_args()
    WITHOUT_INJECTION = args.without_injection
    asyncio.run(main(args.quick, args.cpu))
