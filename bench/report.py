"""Renders the bench results (medians per cell) as markdown tables with ratios vs the pass-through."""

from __future__ import annotations

import math
import statistics
from typing import Any

from harness import Sample

Cells = dict[str, dict[str, list[Sample]]]  # target -> cell -> runs

LABELS = {"direct": "fake upstream, called directly", "passthrough": "minimal pass-through (aiohttp)",
          "bastion-min": "Bastion (a) auth + routing", "bastion-full": "Bastion (b) everything on",
          "bastion-redis": "Bastion (b) with limits.backend: redis"}


def med(runs: list[Sample], attr: str) -> float:
    vals = [getattr(r, attr) if attr in Sample.__dataclass_fields__ else r.extra.get(attr, math.nan)
            for r in runs if r.errors == 0]
    return statistics.median(vals) if vals else math.nan


def f(v: float, digits: int = 0, unit: str = "") -> str:
    if v is None or math.isnan(v):
        return "-"
    return f"{v:,.{digits}f}{unit}"


def ratio(v: float, ref: float) -> str:
    if math.isnan(v) or math.isnan(ref) or ref == 0:
        return "-"
    return f"{100 * v / ref:.0f} %"


def errs(runs: list[Sample]) -> str:
    n = sum(r.errors for r in runs)
    return f" ⚠{n} err" if n else ""


def foreign(by_cell: dict[str, list[Sample]]) -> str:
    """Median CPU other users of the machine took on the proxy core during the runs, and the most the
    bench itself used of the load core (wrk / client + nginx + irq/softirq) in a throughput cell."""
    c0 = [r.extra.get("foreign_core0_pct", math.nan) for runs in by_cell.values() for r in runs]
    c1 = [r.extra.get("load_core_busy_pct", math.nan) for c, runs in by_cell.items() for r in runs
          if c not in ("lat", "ttft")]
    if not c0:
        return "-"
    return f"{statistics.median(c0):.0f} % / {max(c1) if c1 else math.nan:.0f} %"


def main_table(cells: Cells, rss: dict[str, tuple[float, float]]) -> str:
    def g(t: str, c: str, a: str) -> float:
        return med(cells.get(t, {}).get(c, []), a)

    head = ("| target | req/s @64 | vs pass | CPU µs/req | 1-core capacity | vs pass | p50 @1 | p99 @1 | added p50 | added p99 "
            "| stream req/s @16 | vs pass | CPU µs/stream | TTFT p50 | full stream p50 | added TTFT "
            "| RSS start→end | foreign core 0 / load core max |")
    lines = [head, "|" + " --- |" * (head.count("|") - 1)]
    for t in cells:
        row = [
            LABELS.get(t, t),
            f(g(t, "tput", "rps")) + errs(cells[t].get("tput", [])), ratio(g(t, "tput", "rps"),
                                                                          g("passthrough", "tput", "rps")),
            f(g(t, "tput", "cpu_us")) if t != "direct" else "-",
            f(1e6 / g(t, "tput", "cpu_us")) if t != "direct" else "-",
            ratio(g("passthrough", "tput", "cpu_us"), g(t, "tput", "cpu_us")) if t != "direct" else "-",
            f(g(t, "lat", "p50_ms"), 2, " ms") + errs(cells[t].get("lat", [])), f(g(t, "lat", "p99_ms"), 2, " ms"),
            f(g(t, "lat", "p50_ms") - g("direct", "lat", "p50_ms"), 2, " ms") if t != "direct" else "-",
            f(g(t, "lat", "p99_ms") - g("direct", "lat", "p99_ms"), 2, " ms") if t != "direct" else "-",
            f(g(t, "stream", "rps")) + errs(cells[t].get("stream", [])),
            ratio(g(t, "stream", "rps"), g("passthrough", "stream", "rps")),
            f(g(t, "stream", "cpu_us")) if t != "direct" else "-",
            f(g(t, "ttft", "p50_ms"), 2, " ms") + errs(cells[t].get("ttft", [])),
            f(g(t, "ttft", "full_p50_ms"), 2, " ms"),
            f(g(t, "ttft", "p50_ms") - g("direct", "ttft", "p50_ms"), 2, " ms") if t != "direct" else "-",
            (f"{rss[t][0]:.0f}→{rss[t][1]:.0f} MB" if t in rss else "-"),
            foreign(cells[t]) if t != "direct" else "-",
        ]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def anthropic_table(cells: Cells) -> str:
    def g(t: str, c: str, a: str) -> float:
        return med(cells.get(t, {}).get(c, []), a)

    if not any("a_tput" in by for by in cells.values()):
        return ""
    lines = ["| target (Anthropic /v1/messages ingress and upstream) | req/s @64 | vs pass | CPU µs/req "
             "| stream req/s @16 | vs pass | CPU µs/stream |", "|" + " --- |" * 7]
    for t in cells:
        if "a_tput" not in cells[t]:
            continue
        lines.append("| " + " | ".join([
            LABELS.get(t, t), f(g(t, "a_tput", "rps")) + errs(cells[t]["a_tput"]),
            ratio(g(t, "a_tput", "rps"), g("passthrough", "a_tput", "rps")),
            f(g(t, "a_tput", "cpu_us")) if t != "direct" else "-",
            f(g(t, "a_stream", "rps")) + errs(cells[t].get("a_stream", [])),
            ratio(g(t, "a_stream", "rps"), g("passthrough", "a_stream", "rps")),
            f(g(t, "a_stream", "cpu_us")) if t != "direct" else "-"]) + " |")
    return "\n".join(lines)


def targets_check(cells: Cells, rss: dict[str, tuple[float, float]]) -> str:
    """The issue's targets, each with the measured value and a verdict."""
    def g(t: str, c: str, a: str) -> float:
        return med(cells.get(t, {}).get(c, []), a)

    out: list[str] = []

    def check(what: str, value: float, limit: float, higher: bool, unit: str) -> None:
        if math.isnan(value):
            out.append(f"- {what}: not measured")
            return
        ok = value >= limit if higher else value <= limit
        out.append(f"- {what}: {value:.2f}{unit} (target {'≥' if higher else '≤'} {limit:g}{unit}) "
                   f"{'PASS' if ok else 'FAIL'}")

    for t, floor in (("bastion-full", 50.0), ("bastion-min", 75.0)):
        if t not in cells:
            continue
        for c, what in (("tput", "non-streamed"), ("stream", "streamed")):
            r = 100 * g(t, c, "rps") / g("passthrough", c, "rps") if "passthrough" in cells else math.nan
            check(f"{t} {what} req/s vs pass-through", r, floor, True, " %")
        if "pstream" in cells[t]:
            r = 100 * g("passthrough", "pstream", "cpu_us") / g(t, "pstream", "cpu_us") \
                if "passthrough" in cells else math.nan
            check(f"{t} paced streams, 1-core capacity vs pass-through", r, floor, True, " %")
    if "bastion-full" in cells:
        check("bastion-full added p50 @1", g("bastion-full", "lat", "p50_ms") - g("direct", "lat", "p50_ms"),
              1.0, False, " ms")
        check("bastion-full added p99 @1", g("bastion-full", "lat", "p99_ms") - g("direct", "lat", "p99_ms"),
              3.0, False, " ms")
    for t in ("bastion-min", "bastion-full"):
        if t in rss:
            check(f"{t} RSS after the runs", rss[t][1], 150.0, False, " MB")
    return "\n".join(out)


def features_block(notes: dict[str, dict[str, Any]]) -> str:
    lines = []
    for t, n in notes.items():
        lines.append(f"- **{t}**: " + "; ".join(f"{k}: {v}" for k, v in n.items()))
    return "\n".join(lines)


def redis_table(cells: Cells) -> str:
    """(b) with the memory vs the Redis limits backend: the proxy's CPU and the Redis server's, per request."""
    def g(t: str, c: str, a: str) -> float:
        return med(cells.get(t, {}).get(c, []), a)

    def per_req(t: str, c: str) -> float:
        runs = [r for r in cells.get(t, {}).get(c, []) if r.errors == 0 and r.extra.get("requests")]
        vals = [1e6 * r.extra.get("side_cpu_s", math.nan) / r.extra["requests"] for r in runs]
        return statistics.median(vals) if vals else math.nan

    lines = ["| target | req/s @64 | proxy CPU µs/req | Redis server CPU µs/req | proxy + Redis | p50 @1 | p99 @1 "
             "| stream req/s @16 | proxy CPU µs/stream | Redis µs/stream |", "|" + " --- |" * 10]
    for t in ("bastion-full", "bastion-redis"):
        if t not in cells:
            continue
        lines.append("| " + " | ".join([
            LABELS[t], f(g(t, "tput", "rps")) + errs(cells[t].get("tput", [])), f(g(t, "tput", "cpu_us")),
            f(per_req(t, "tput"), 1), f(g(t, "tput", "cpu_us") + per_req(t, "tput")),
            f(g(t, "lat", "p50_ms"), 2, " ms"), f(g(t, "lat", "p99_ms"), 2, " ms"),
            f(g(t, "stream", "rps")), f(g(t, "stream", "cpu_us")), f(per_req(t, "stream"), 1)]) + " |")
    return "\n".join(lines)


def paced_table(cells: Cells) -> str:
    """Streams paced as a model writes them (one upstream read per event), 16 at a time: CPU per stream
    and the 1-core capacity it gives, against the pass-through's."""
    def g(t: str, a: str) -> float:
        return med(cells.get(t, {}).get("pstream", []), a)

    if not any("pstream" in by for by in cells.values()):
        return ""
    lines = ["| target (paced streams, 16 clients, one upstream read per event) | streams/s | CPU µs/stream "
             "| 1-core capacity | vs pass | TTFT p50 | full stream p50 |", "|" + " --- |" * 7]
    for t, by in cells.items():
        if "pstream" not in by:
            continue
        own = t != "direct"
        lines.append("| " + " | ".join([
            LABELS.get(t, t), f(g(t, "rps")) + errs(by["pstream"]), f(g(t, "cpu_us")) if own else "-",
            f(1e6 / g(t, "cpu_us")) if own else "-",
            ratio(g("passthrough", "cpu_us"), g(t, "cpu_us")) if own else "-",
            f(g(t, "p50_ms"), 2, " ms"), f(g(t, "full_p50_ms"), 2, " ms")]) + " |")
    return "\n".join(lines)


def extra_table(cells: Cells, shown: tuple[str, ...] = ("tput", "lat", "stream", "ttft", "pstream", "a_tput",
                                                        "a_stream")
                ) -> str:
    """Cells outside the two main tables (e.g. burst), as req/s, ratio and CPU per request."""
    extra = sorted({c for by in cells.values() for c in by if c not in shown})
    if not extra:
        return ""
    lines = ["| target | " + " | ".join(f"{c} req/s | vs pass | CPU µs/req" for c in extra) + " |",
             "|" + " --- |" * (1 + 3 * len(extra))]
    for t, by in cells.items():
        row = [LABELS.get(t, t)]
        for c in extra:
            row += [f(med(by.get(c, []), "rps")) + errs(by.get(c, [])),
                    ratio(med(by.get(c, []), "rps"), med(cells.get("passthrough", {}).get(c, []), "rps")),
                    f(med(by.get(c, []), "cpu_us")) if t != "direct" else "-"]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)
