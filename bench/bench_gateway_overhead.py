"""Benchmark: CPU per request of Bastion (b) in process, without the network and (by default) the injection detector.

Run: taskset -c 1 .venv/bin/python bench/bench_gateway_overhead.py [--requests 20000] [--with-injection]
                                                                  [--words 200]
(`py-spy record -r 1000 -f raw -o out.txt -- <that command>` for where the time goes)
The real app (`create_app` on the `full` bench profile: default policy in and out, rate limits, team
and key budgets, async audit into SQLite, metrics, access log to a file) serves non-streamed OpenAI
chat requests called straight through its ASGI interface; the provider's answer is the fake
upstream's body (bench/upstream.py) handed back by a stub in place of the HTTP transport. Every prompt
is unique (as in the gateway bench). CPU is the process's (every thread: the audit writer included,
drained before the clock stops), divided by the requests. Without `--with-injection` the injection
rule stays in the policy (so the scan cache behaves as in (b)) but its scanner finds nothing at once:
what is left is the rest of "everything on". With `--stream` the requests are streamed: the stub opens
the fake upstream's 20-event OpenAI stream and hands it over one event per loop iteration (one upstream
read per event, as the paced cell of bench/run.py); CPU is then per stream. `--one-read` hands the
whole stream over in one read instead, as in the streamed throughput cell (there, under load, a stream
arrives in 1.14 reads on average: counted on 2026-11-29 over 14,174 streams). `--anthropic` sends the
requests to the Anthropic ingress (/v1/messages) for a model of an Anthropic provider, whose stub answers
with the fake upstream's Anthropic body or stream (bench cells `a_json`/`a_stream`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import profiles
from bodies import SYSTEM, prompt
from upstream import WORDS, anthropic_events, anthropic_json, openai_events, openai_json

# (module, class or None, function): timed inclusively with --breakdown (thread CPU time).
PIECES = [
    ("bastion.pipeline.runner", "Pipeline", "chat"),
    ("bastion.pipeline.runner", "Pipeline", "finalize"),
    ("bastion.policy.stage", "PolicyStage", "check"),
    ("bastion.policy.engine", "PolicyEngine", "scan_request"),
    ("bastion.policy.rules", "ScanRun", "scan"),
    ("bastion.policy.normalize", None, "normalize"),
    ("bastion.policy.scanners.pii", "PiiScanner", "scan"),
    ("bastion.policy.scanners.secrets", "SecretsScanner", "scan"),
    ("bastion.policy.scanners.injection", "InjectionScanner", "scan"),
    ("bastion.policy.scan_cache", "ScanCache", "digest"),
    ("bastion.policy.scan_cache", "ScanCache", "get"),
    ("bastion.policy.scan_cache", "ScanCache", "put"),
    ("bastion.policy.guard", "OutputGuard", "check_response"),
    ("bastion.policy.engine", "PolicyEngine", "inspect"),
    ("bastion.limits.stage", "RateLimitStage", "check"),
    ("bastion.limits.stage", "RateLimitStage", "finish"),
    ("bastion.cost.stage", "BudgetStage", "check"),
    ("bastion.cost.stage", "BudgetStage", "finish"),
    ("bastion.audit.stage", "AuditStage", "admit"),
    ("bastion.audit.stage", "AuditStage", "finish"),
    ("bastion.audit.record", None, "build_record"),
    ("bastion.audit.writer", "AuditWriter", "_take_batch"),
    ("bastion.audit.writer", "AuditWriter", "_write_batch"),
    ("bastion.audit.chain", "Chain", "append"),
    ("bastion.observability.observer", "TelemetryObserver", "admit"),
    ("bastion.observability.observer", "TelemetryObserver", "finish"),
    ("bastion.observability.metrics", "Metrics", "observe_request"),
    ("bastion.observability.logging", None, "access_log"),
    ("bastion.providers.router", "Router", "chat"),
    ("bastion.auth.authenticator", "Authenticator", "authenticate"),
]
SPENT: dict[str, list[float]] = {}
_CLOCK = time.thread_time  # CPU of the loop thread: robust on a shared machine


def _instrument() -> None:
    import importlib
    import inspect

    for mod_name, cls_name, fn_name in PIECES:
        mod = importlib.import_module(mod_name)
        owner: Any = getattr(mod, cls_name) if cls_name else mod
        fn = inspect.getattr_static(owner, fn_name)
        static = isinstance(fn, staticmethod)
        raw = fn.__func__ if static else fn
        label = f"{cls_name + '.' if cls_name else ''}{fn_name}"
        acc = SPENT.setdefault(label, [0.0, 0])
        if inspect.iscoroutinefunction(raw):
            async def wrapped(*a: Any, __raw: Any = raw, __acc: list[float] = acc, **k: Any) -> Any:
                t = _CLOCK()
                try:
                    return await __raw(*a, **k)
                finally:
                    __acc[0] += _CLOCK() - t
                    __acc[1] += 1
        else:
            def wrapped(*a: Any, __raw: Any = raw, __acc: list[float] = acc, **k: Any) -> Any:  # type: ignore[misc]
                t = _CLOCK()
                try:
                    return __raw(*a, **k)
                finally:
                    __acc[0] += _CLOCK() - t
                    __acc[1] += 1
        setattr(owner, fn_name, staticmethod(wrapped) if static else wrapped)
        if cls_name is None:  # also where it was imported by name
            for other in list(sys.modules.values()):
                if other is not mod and getattr(other, fn_name, None) is raw:
                    setattr(other, fn_name, wrapped)


def _no_injection() -> None:
    from bastion.policy.scanners import injection

    injection.InjectionScanner.scan = lambda self, text: []  # type: ignore[method-assign]


async def _call(app: Any, method: str, path: str, body: bytes, headers: list[tuple[bytes, bytes]]) -> tuple[int, bytes]:
    sent: list[dict[str, Any]] = []
    scope = {"type": "http", "http_version": "1.1", "method": method, "path": path, "raw_path": path.encode(),
             "query_string": b"", "headers": [(b"content-length", str(len(body)).encode()), *headers],
             "client": ("127.0.0.1", 40000), "server": ("127.0.0.1", 8000), "scheme": "http"}
    done = False

    async def receive() -> dict[str, Any]:
        nonlocal done
        if done:
            await asyncio.Event().wait()
        done = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(msg: dict[str, Any]) -> None:
        sent.append(msg)

    await app(scope, receive, send)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    return status, b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


async def run(args: argparse.Namespace) -> None:
    from bastion.app import create_app
    from bastion.config.schema import BastionConfig
    from bastion.observability.logging import setup_logging

    tmp = Path(tempfile.mkdtemp(prefix="bench-overhead-"))
    cfg, _ = profiles.fit(args.profile, "http://127.0.0.1:9", tmp / "bastion.db")
    config = BastionConfig.model_validate(cfg)
    log_file = (tmp / "bastion.log").open("w")
    setup_logging(config.observability, stream=log_file)
    app = create_app(config)
    gw = app.gateway  # type: ignore[attr-defined]
    answer = anthropic_json() if args.anthropic else openai_json()

    async def post(ep: object, path: str, body: bytes, extra: object = None) -> tuple[int, dict[str, str], bytes]:
        return 200, {"content-type": "application/json"}, answer

    gw.transport.post = post
    gw.transport.post_stream = _post_stream
    if args.quiet_timers:
        quiet_timers(gw)
    await gw.startup()
    admin = [(b"authorization", b"Bearer " + profiles.ADMIN_KEY.encode()), (b"content-type", b"application/json")]
    status, body = await _call(app, "POST", "/admin/keys",
                               json.dumps({"name": "bench", **(profiles.FULL_KEY_FIELDS if args.profile == "full" else {})}
                                          ).encode(), admin)
    assert status == 201, (status, body)
    key = json.loads(body)["key"]
    headers = [(b"authorization", f"Bearer {key}".encode()), (b"content-type", b"application/json")]
    text = prompt(args.words)

    path = "/v1/messages" if args.anthropic else "/v1/chat/completions"
    end_marker = b"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n" if args.anthropic else b"data: [DONE]\n\n"

    def request(n: int | str) -> bytes:
        if args.anthropic:
            return json.dumps({"model": "claude-sonnet-4-5", "max_tokens": 256, "temperature": 0.2,
                               "stream": args.stream, "system": SYSTEM,
                               "messages": [{"role": "user", "content": f"Ticket bench-{n}: {text}"}]}).encode()
        return json.dumps({"model": "gpt-4o-mini", "max_tokens": 256, "temperature": 0.2, "stream": args.stream,
                           "messages": [{"role": "system", "content": SYSTEM},
                                        {"role": "user", "content": f"Ticket bench-{n}: {text}"}]}).encode()

    # Every body is the one template with its number put in (the same bytes as request(n)): encoding
    # a body per request would count ~75k instructions of the bench's own per request (icount.py).
    head, tail = request("\x00").split(b"\\u0000", 1)
    bodies = [head + str(n).encode() + tail for n in range(args.requests + args.warmup)]
    assert bodies[-1] == request(len(bodies) - 1)
    for b in bodies[:args.warmup]:
        status, out = await _call(app, "POST", path, b, headers)
        assert status == 200, (status, out[:300])
        assert not args.stream or (out.endswith(end_marker) and b"window." in out), out[-300:]
    await _drain(gw)
    for acc in SPENT.values():
        acc[:] = [0.0, 0]
    rounds = []
    per_round = args.requests // args.rounds
    for r in range(args.rounds):
        chunk = bodies[args.warmup + r * per_round: args.warmup + (r + 1) * per_round]
        cpu = time.process_time()
        for b in chunk:
            status, _ = await _call(app, "POST", path, b, headers)
            assert status == 200
        await _drain(gw)
        rounds.append((time.process_time() - cpu) / len(chunk) * 1e6)
    records: object = "off"
    if args.profile == "full":  # (a) runs with the audit off
        row = await gw.db.fetchone("SELECT count(*) FROM " + gw.audit_writer.sink.table)
        records = row[0] if row else "?"
    await gw.shutdown()
    log_file.close()
    if SPENT:
        n = args.requests
        print("| piece (inclusive, loop-thread CPU) | µs per request | calls per request |")
        print("| --- | ---: | ---: |")
        for label, (spent, calls) in SPENT.items():
            print(f"| {label} | {spent / n * 1e6:.1f} | {calls / n:.2f} |")
    print(f"µs CPU per request (process, audit writer included): median {statistics.median(rounds):.1f}, min {min(rounds):.1f}, "
          f"rounds {', '.join(f'{x:.1f}' for x in rounds)}; injection {'on' if args.with_injection else 'no-op'}; "
          f"{args.words}-word prompt; profile {args.profile}{'; streamed' if args.stream else ''}{'; anthropic' if args.anthropic else ''}; audit rows {records}; load average {os.getloadavg()[0]:.2f}")


class _StreamedAnswer:
    """The fake upstream's stream as the transport's response: a body fed one event per loop turn."""

    one_read = False
    events: list[bytes] = []  # the fake upstream's stream (set by main: OpenAI's or Anthropic's)

    def __init__(self) -> None:
        from bastion.providers.http1 import Body

        self.content = Body(None)
        self.feeder = asyncio.get_running_loop().create_task(self._feed())

    async def _feed(self) -> None:
        if self.one_read:
            await asyncio.sleep(0)
            self.content.feed(b"".join(self.events))
        else:
            for event in self.events:
                await asyncio.sleep(0)  # the consumer takes each event before the next arrives
                self.content.feed(event)
        self.content.feed_eof()

    def close(self) -> None:
        self.feeder.cancel()


async def _post_stream(ep: Any, path: str, body: bytes, extra: object = None) -> tuple[int, dict[str, str], Any]:
    from bastion.providers.transport import UpstreamStream

    return 200, {"content-type": "text/event-stream"}, UpstreamStream(_StreamedAnswer(), ep)  # type: ignore[arg-type]


QUIET_SECONDS = 86_400.0


def quiet_timers(gw: Any) -> None:
    """Before `startup`: nothing the gateway does by the clock falls inside a counted run; what serving
    N requests implies is counted once, in batches fixed by counts, not by how long the run lasted.
    - The key-change poll (every key_cache_ttl/2) and the usage flush (every limits.usage_flush_seconds)
      fire once a day: both are work per second, not per request. A key stays fresh in the cache for that
      day (no store read either); the usage rows are written at shutdown.
    - The audit writer takes a batch when `batch_size` records are buffered (its own kick) or when
      `_drain` asks, never on its idle timer (audit.flush_interval_seconds, 0.2 s), and checkpoints
      every checkpoint_every records, never on their timer (checkpoint_interval_seconds).
    - Access lines are written by `_drain` (one write per round), not by their 0.1 s timer.
    Under valgrind a run lasts minutes and its pace follows the host's load: whether a poll or flush
    landed in the counted run, how many small audit batches and access-log writes the timers made, and
    how often `_drain` polled while SQLite wrote moved bench/icount.py's whole-request counts by ±20k.
    For instruction counts only (icount.py passes --quiet-timers): a served gateway polls and flushes."""
    from bastion.observability import logging as access

    gw.auth._ttl = QUIET_SECONDS  # (the poll's interval is half of it, read when the poll starts)
    gw.limits.recorder._every = QUIET_SECONDS
    gw.audit_writer.flush_interval = QUIET_SECONDS
    gw.audit_writer.checkpoint_interval = QUIET_SECONDS
    access.ACCESS_FLUSH_S = QUIET_SECONDS  # read when a line schedules its flush


async def _drain(gw: Any) -> None:
    """Write out the access lines and every audit record buffered. Waits for the writer's batches
    themselves (an event set as each is written), not by polling the clock: a poll every millisecond
    while SQLite wrote counted a number of loop turns that followed the host's load (icount.py)."""
    from bastion.observability.logging import flush_access_log

    flush_access_log()
    writer = gw.audit_writer
    if not writer.depth:
        return
    written = asyncio.Event()
    done = writer._done

    def signalled() -> None:
        done()
        written.set()

    # The writer idles twice before a batch smaller than batch_size (it waits for more records once
    # more after a wake-up): with no interval it goes on at the next loop turn, a fixed number of turns.
    interval, writer.flush_interval = writer.flush_interval, 0.0
    writer._done = signalled
    try:
        while writer.depth:
            written.clear()
            writer._kick()
            await asyncio.wait_for(written.wait(), 600)
    finally:
        del writer._done  # the class's method again
        writer.flush_interval = interval


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--words", type=int, default=200)
    parser.add_argument("--with-injection", action="store_true")
    parser.add_argument("--stream", action="store_true", help="streamed requests (20 events, one read each)")
    parser.add_argument("--one-read", action="store_true", help="with --stream: the whole stream in one upstream read")
    parser.add_argument("--anthropic", action="store_true",
                        help="Anthropic ingress and upstream (/v1/messages, an Anthropic provider's model)")
    parser.add_argument("--profile", choices=["full", "min"], default="full",
                        help="min: Bastion (a), auth + routing (as bench/run.py's bastion-min)")
    parser.add_argument("--quiet-timers", action="store_true",
                        help="no key-change poll nor usage flush during the run (instruction counts: bench/icount.py)")
    parser.add_argument("--breakdown", action="store_true",
                        help="time the main pieces (wrapped: adds ~1.3 µs per call to the total)")
    args = parser.parse_args()
    _StreamedAnswer.one_read = args.one_read
    _StreamedAnswer.events = anthropic_events(WORDS) if args.anthropic else openai_events(WORDS)
    if not args.with_injection:
        _no_injection()
    if args.breakdown:
        import bastion.app  # noqa: F401  (every module imported before wrapping)

        _instrument()
    logging.getLogger("asyncio").setLevel(logging.WARNING)
    import uvloop

    uvloop.run(run(args))


if __name__ == "__main__":
    main()
