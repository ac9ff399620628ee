"""Instructions per call of the pieces of Bastion's request path, counted by valgrind inside whole requests.

Usage: .venv/bin/python bench/icount_pieces.py [--src DIR ...] [--requests 300] [--pieces a,b,...] [--stream]
[--with-injection] (`apt-get install -y valgrind` once; a C compiler for the client-request helper). For each source
tree runs `bench_gateway_overhead.py`'s set-up (profile full, injection detector a no-op unless `--with-injection`)
under `valgrind --tool=callgrind --instr-atstart=no --collect-atstart=no`: the app is built and warmed up (200
requests) uninstrumented; then, one piece at a time, that piece's function is wrapped so that callgrind collects
only while it runs (a client request before and after each call), `--requests` requests are served, and the
instructions collected are dumped: what the piece costs per call, inclusive (everything it calls), in the requests
as the gateway serves them. `request` is the whole ASGI call (as the bench makes it: with its scope and message
dicts); `empty` calibrates the two client requests' own share (a wrapped function that does nothing), already
subtracted from every other figure. A piece that awaits something that suspends would count what other tasks run
meanwhile: the pieces listed are synchronous or never suspend in this bench (the upstream is a stub). The hash seed
is fixed (PYTHONHASHSEED=0).
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import importlib
import inspect
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

# label -> (module, class or None, function)
PIECES: dict[str, tuple[str, str | None, str]] = {
    "scan_request": ("bastion.policy.engine", "PolicyEngine", "scan_request"),
    "text_slots": ("bastion.policy.engine", None, "text_slots"),
    "ScanRun.scan": ("bastion.policy.rules", "ScanRun", "scan"),
    "pii.scan": ("bastion.policy.scanners.pii", "PiiScanner", "scan"),
    "secrets.scan": ("bastion.policy.scanners.secrets", "SecretsScanner", "scan"),
    "cache.get": ("bastion.policy.scan_cache", "ScanCache", "get"),
    "cache.put": ("bastion.policy.scan_cache", "ScanCache", "put"),
    "check_response": ("bastion.policy.guard", "OutputGuard", "check_response"),
    "PolicyStage.check": ("bastion.policy.stage", "PolicyStage", "check"),
    "observe_request": ("bastion.observability.metrics", "Metrics", "observe_request"),
    "access_log": ("bastion.observability.observer", None, "access_log"),
    "Router.chat": ("bastion.providers.router", "Router", "chat"),
    "openai.encode_request": ("bastion.providers.openai.format", "OpenAIFormat", "encode_request"),
    "openai.decode_response": ("bastion.providers.openai.format", "OpenAIFormat", "decode_response"),
    "json_object": ("bastion.providers.router", None, "_json_object"),
    "digest": ("bastion.policy.scan_cache", "ScanCache", "digest"),
    "Router._call": ("bastion.providers.router", "Router", "_call"),
    "Router._post": ("bastion.providers.router", "Router", "_post"),
    "openai.decode_request": ("bastion.providers.openai.format", "OpenAIFormat", "decode_request"),
    "openai.encode_response": ("bastion.providers.openai.format", "OpenAIFormat", "encode_response"),
    "Pipeline.settle": ("bastion.pipeline.runner", "Pipeline", "settle"),
    "Pipeline.report": ("bastion.pipeline.runner", "Pipeline", "report"),
    "TelemetryObserver.finish": ("bastion.observability.observer", "TelemetryObserver", "finish"),
    "Pipeline.chat": ("bastion.pipeline.runner", "Pipeline", "chat"),
    "Authenticator.authenticate": ("bastion.auth.authenticator", "Authenticator", "authenticate"),
    "Pipeline.admit": ("bastion.pipeline.runner", "Pipeline", "admit"),
    "AuditStage.admit": ("bastion.audit.stage", "AuditStage", "admit"),
    "RateLimitStage.check": ("bastion.limits.stage", "RateLimitStage", "check"),
    "BudgetStage.check": ("bastion.cost.stage", "BudgetStage", "check"),
    "ApiHandlers._chat": ("bastion.http.api", "ApiHandlers", "_chat"),
    "_check_head": ("bastion.http.asgi", "BastionASGI", "_check_head"),
    "_body": ("bastion.http.asgi", "BastionASGI", "_body"),
    "_send": ("bastion.http.asgi", "BastionASGI", "_send"),
    "LimitedRequest.json": ("bastion.http.limits", "LimitedRequest", "json"),
    "BastionASGI._http": ("bastion.http.asgi", "BastionASGI", "_http"),
    "_Admitted.serve": ("bastion.http.api", "_Admitted", "serve"),
    "TelemetryObserver.admit": ("bastion.observability.observer", "TelemetryObserver", "admit"),
    "Router.route": ("bastion.providers.router", "Router", "route"),
    "estimate_for": ("bastion.limits.estimate", None, "estimate_for"),
    "BudgetStage.plan": ("bastion.cost.stage", "BudgetStage", "plan"),
    "BudgetStage._worst": ("bastion.cost.stage", "BudgetStage", "_worst"),
    "MemoryBackend.admit_headed": ("bastion.limits.memory", "MemoryBackend", "admit_headed"),
    "MemoryBackend.take": ("bastion.limits.memory", "MemoryBackend", "take"),
    "MemoryBackend.hold": ("bastion.limits.memory", "MemoryBackend", "hold"),
    "MemoryBackend.take_headed": ("bastion.limits.memory", "MemoryBackend", "take_headed"),
    "RateLimitStage.finish": ("bastion.limits.stage", "RateLimitStage", "finish"),
    "ScopeResolver.scopes": ("bastion.limits.scopes", "ScopeResolver", "scopes"),
    "limits.estimate_for": ("bastion.limits.stage", None, "estimate_for"),
    "RateLimitStage._headers": ("bastion.limits.stage", "RateLimitStage", "_headers"),
    "BudgetStage.admitted": ("bastion.cost.stage", "BudgetStage", "admitted"),
    "BudgetStage.partner_settlement": ("bastion.cost.stage", "BudgetStage", "partner_settlement"),
    "BudgetStage.finish": ("bastion.cost.stage", "BudgetStage", "finish"),
    "BudgetStage.settlement": ("bastion.cost.stage", "BudgetStage", "settlement"),
    "Price.cost_pico": ("bastion.cost.pricing", "Price", "cost_pico"),
    "PriceTable.get": ("bastion.cost.pricing", "PriceTable", "get"),
    "MemoryBackend.give_back": ("bastion.limits.memory", "MemoryBackend", "give_back"),
    "MemoryBackend.account": ("bastion.limits.memory", "MemoryBackend", "account"),
    "MemoryBackend.give_back_account": ("bastion.limits.memory", "MemoryBackend", "give_back_account"),
    "UsageRecorder.record": ("bastion.cost.usage", "UsageRecorder", "record"),
    "AuditStage.finish": ("bastion.audit.stage", "AuditStage", "finish"),
    "build_record": ("bastion.audit.stage", None, "build_record"),
    "JsonStreamHandler.flush": ("bastion.observability.logging", "JsonStreamHandler", "flush"),
    "burst_filter": ("bastion.policy.guard", "OutputGuard", "burst_filter"),
    "HeldText._release": ("bastion.policy.window", "HeldText", "_release"),
    "pending_start": ("bastion.policy.window", None, "pending_start"),
    "Router._fetch_chat": ("bastion.providers.router", "Router", "_fetch_chat"),
    "breaker.acquire": ("bastion.providers.circuit", "CircuitBreaker", "acquire"),
    "Permit.success": ("bastion.providers.circuit", "Permit", "success"),
    "Balancer.begin": ("bastion.providers.balance", "Balancer", "begin"),
    "Balancer.end": ("bastion.providers.balance", "Balancer", "end"),
    "Router.chat_stream": ("bastion.providers.router", "Router", "chat_stream"),
    "Router._stream": ("bastion.providers.router", "Router", "_stream"),
    "first_content": ("bastion.providers.router", None, "first_content"),
    "RoutedStream.__init__": ("bastion.providers.streaming", "RoutedStream", "__init__"),
    "openai.stream_decoder": ("bastion.providers.openai.format", "OpenAIFormat", "stream_decoder"),
    "injection.scan": ("bastion.policy.scanners.injection", "InjectionScanner", "scan"),
    "Detector.findings": ("bastion.policy.injection.detector", "Detector", "findings"),
    "Detector._findings_ascii": ("bastion.policy.injection.detector", "Detector", "_findings_ascii"),
    "Detector._search": ("bastion.policy.injection.detector", "Detector", "_search"),
    "Detector._model_finding": ("bastion.policy.injection.detector", "Detector", "_model_finding"),
    "ascii_canon": ("bastion._native", None, "ascii_canon"),
    "features_windows": ("bastion._native", None, "features_windows"),
    "possible_regions": ("bastion._native", None, "possible_regions"),
    "Regions.possible_ascii": ("bastion.policy.injection.regions", "Regions", "possible_ascii"),
    "Regions.find_ascii": ("bastion.policy.injection.regions", "Regions", "find_ascii"),
    "_Streamed.burst": ("bastion.policy.guard", "_Streamed", "burst"),
    "_Streamed.finish": ("bastion.policy.guard", "_Streamed", "finish"),
    "HeldText.feed": ("bastion.policy.window", "HeldText", "feed"),
    "HeldText.flush": ("bastion.policy.window", "HeldText", "flush"),
    "ChunkEncoder.encode": ("bastion.providers.openai.stream", "ChunkEncoder", "encode"),
    "ChunkEncoder.encode_burst": ("bastion.providers.openai.stream", "ChunkEncoder", "encode_burst"),
    "note": ("bastion.pipeline.runner", None, "note"),
    "ObservedStream.frames": ("bastion.pipeline.runner", "ObservedStream", "frames"),
    "_send_stream": ("bastion.http.asgi", "BastionASGI", "_send_stream"),
    "relay": ("bastion.http.relay", None, "relay"),
    "ChunkDecoder.feed": ("bastion.providers.openai.stream", "ChunkDecoder", "feed"),
    "EndShapes.events": ("bastion.providers.openai.stream", "EndShapes", "events"),
    "SSEParser.feed": ("bastion.providers.sse", "SSEParser", "feed"),
    "streaming._decode": ("bastion.providers.streaming", None, "_decode"),
    "streaming._decode_joined": ("bastion.providers.streaming", None, "_decode_joined"),
    "RequestTracer.finish": ("bastion.observability.tracing", "RequestTracer", "finish"),
    "AuditWriter.submit": ("bastion.audit.writer", "AuditWriter", "submit"),
    "native_record": ("bastion.audit.record", None, "_native_record"),
    "native_access_line": ("bastion.observability.logging", None, "_native_line"),
    "native_observe": ("bastion.observability.metrics", None, "_native_observe"),
    "native_bucket_conclude": ("bastion.limits.memory", None, "_bucket_conclude"),
    "actual_usage": ("bastion.cost.stage", None, "actual_usage"),
    "PolicyStage.finish": ("bastion.policy.stage", "PolicyStage", "finish"),
    "Pipeline.finalize": ("bastion.pipeline.runner", "Pipeline", "finalize"),
    "native_settle": ("bastion.cost.stage", None, "_native_settle"),
    "Pipeline.settle_now": ("bastion.pipeline.runner", "Pipeline", "settle_now"),
    "TelemetryObserver.finish_now": ("bastion.observability.observer", "TelemetryObserver", "finish_now"),
    "AuditStage.finish_now": ("bastion.audit.stage", "AuditStage", "finish_now"),
    "RateLimitStage._finish_mem": ("bastion.limits.stage", "RateLimitStage", "_finish_mem"),
    "BudgetStage._finish_mem": ("bastion.cost.stage", "BudgetStage", "_finish_mem"),
}
DEFAULT = ("request,scan_request,ScanRun.scan,pii.scan,secrets.scan,cache.get,cache.put,check_response,"
           "observe_request,access_log,Router.chat")
_HELPER = """#include <valgrind/callgrind.h>
void cg_start(void) { CALLGRIND_START_INSTRUMENTATION; }
void cg_on(void) { CALLGRIND_TOGGLE_COLLECT; }
void cg_off(void) { CALLGRIND_TOGGLE_COLLECT; }
void cg_zero(void) { CALLGRIND_ZERO_STATS; }
void cg_dump(const char *s) { CALLGRIND_DUMP_STATS_AT(s); }
"""
_TRIGGER = re.compile(r"^desc: Trigger: Client Request: (\S+) (\d+)$", re.MULTILINE)
_TOTAL = re.compile(r"^(?:summary|totals): (\d+)", re.MULTILINE)


def _wrap(owner: Any, name: str, on: Any, off: Any) -> tuple[Any, Any]:
    """Wrap owner.name so that callgrind collects while it runs; returns (the attribute as it was, the wrapper)."""
    fn = inspect.getattr_static(owner, name)
    static = isinstance(fn, staticmethod)
    raw = fn.__func__ if static else fn
    if inspect.iscoroutinefunction(raw):
        async def wrapped(*a: Any, **k: Any) -> Any:
            on()
            try:
                return await raw(*a, **k)
            finally:
                off()
    else:
        def wrapped(*a: Any, **k: Any) -> Any:  # type: ignore[misc]
            on()
            try:
                return raw(*a, **k)
            finally:
                off()
    new = staticmethod(wrapped) if static else wrapped
    setattr(owner, name, new)
    return fn, new


def child(helper: str, pieces: list[str], n: int, stream: bool, no_gc: bool = False, injection: bool = False,
          one_read: bool = False) -> None:
    import bench_gateway_overhead as bgo

    from bastion.app import create_app
    from bastion.config.schema import BastionConfig
    from bastion.observability.logging import setup_logging

    bgo._StreamedAnswer.events = bgo.openai_events(bgo.WORDS)
    bgo._StreamedAnswer.one_read = one_read
    if not injection:
        bgo._no_injection()
    import bastion.policy.engine  # noqa: F401  (every module imported before wrapping)
    cg = ctypes.CDLL(helper)
    on, off = cg.cg_on, cg.cg_off

    async def run() -> None:
        tmp = Path(tempfile.mkdtemp(prefix="icount-pieces-"))
        cfg, _ = bgo.profiles.fit("full", "http://127.0.0.1:9", tmp / "bastion.db")
        config = BastionConfig.model_validate(cfg)
        log_file = (tmp / "bastion.log").open("w")
        setup_logging(config.observability, stream=log_file)
        app = create_app(config)
        gw = app.gateway  # type: ignore[attr-defined]
        answer = bgo.openai_json()

        async def post(ep: object, path: str, body: bytes, extra: object = None) -> tuple[int, dict[str, str], bytes]:
            return 200, {"content-type": "application/json"}, answer

        gw.transport.post = post
        gw.transport.post_stream = bgo._post_stream
        # No key-change poll nor usage flush (nor, without them, a key's store read when its cache entry
        # expires): a request that suspends on one counts what every other task does meanwhile (the audit
        # writer's backlog of every earlier request included), tens of thousands of instructions at random.
        bgo.quiet_timers(gw)
        await gw.startup()
        admin = [(b"authorization", b"Bearer " + bgo.profiles.ADMIN_KEY.encode()),
                 (b"content-type", b"application/json")]
        status, body = await bgo._call(app, "POST", "/admin/keys", bgo.json.dumps(
            {"name": "bench", **bgo.profiles.FULL_KEY_FIELDS}).encode(), admin)
        assert status == 201, (status, body)
        key = bgo.json.loads(body)["key"]
        headers = [(b"authorization", f"Bearer {key}".encode()), (b"content-type", b"application/json")]
        text = bgo.prompt(200)
        template = bgo.json.dumps({"model": "gpt-4o-mini", "max_tokens": 256, "temperature": 0.2, "stream": stream,
                                   "messages": [{"role": "system", "content": bgo.SYSTEM},
                                                {"role": "user", "content": f"Ticket bench-\x00: {text}"}]}).encode()
        head, tail = template.split(b"\\u0000", 1)
        counter = iter(range(10**9))

        async def one() -> None:
            status, _ = await bgo._call(app, "POST", "/v1/chat/completions",
                                        head + str(next(counter)).encode() + tail, headers)
            assert status == 200

        for _ in range(200):
            await one()
        await bgo._drain(gw)
        if no_gc:  # no cyclic collection inside a counted window (one can add ~20k per request to a piece at random)
            gc.collect()
            gc.disable()
        cg.cg_start()
        for label in ["empty", *pieces]:
            cg.cg_zero()
            if label == "request":
                for _ in range(n):
                    on()
                    await one()
                    off()
                cg.cg_dump(f"request {n}".encode())
            elif label == "empty":
                def nothing() -> None:
                    pass
                for _ in range(n):
                    on()
                    nothing()
                    off()
                cg.cg_dump(f"empty {n}".encode())
            else:
                mod_name, cls_name, fn_name = PIECES[label]
                mod = importlib.import_module(mod_name)
                owner: Any = getattr(mod, cls_name) if cls_name else mod
                before, new = _wrap(owner, fn_name, on, off)
                calls = [0]
                inner = new.__func__ if isinstance(new, staticmethod) else new
                if inspect.iscoroutinefunction(inner):
                    async def counted(*a: Any, __f: Any = inner, __c: list[int] = calls, **k: Any) -> Any:
                        __c[0] += 1
                        return await __f(*a, **k)
                else:
                    def counted(*a: Any, __f: Any = inner, __c: list[int] = calls,  # type: ignore[misc]
                                **k: Any) -> Any:
                        __c[0] += 1
                        return __f(*a, **k)
                setattr(owner, fn_name, staticmethod(counted) if isinstance(new, staticmethod) else counted)
                cg.cg_zero()
                for _ in range(n):
                    await one()
                # the calls' count rides in the trigger; requests (n) are printed by the parent
                cg.cg_dump(f"{label} {max(calls[0], 1)}".encode())
                setattr(owner, fn_name, before)
            await bgo._drain(gw)
        await gw.shutdown()
        log_file.close()

    import uvloop

    uvloop.run(run())


def count(src: Path, helper: str, pieces: list[str], n: int, stream: bool,
          keep: Path | None = None, no_gc: bool = False, injection: bool = False,
          one_read: bool = False) -> dict[str, tuple[int, int]]:
    """Per piece: (instructions per call, calls). `keep`: a directory to copy callgrind's dumps to."""
    with tempfile.TemporaryDirectory(prefix="icount-pieces-") as tmp:
        cmd = ["valgrind", "--tool=callgrind", "--instr-atstart=no", "--collect-atstart=no",
               f"--callgrind-out-file={tmp}/cg.out", sys.executable, str(Path(__file__).resolve()),
               "--child", helper, "--pieces", ",".join(pieces), "--requests", str(n),
               *(["--stream"] if stream else []), *(["--no-gc"] if no_gc else []),
               *(["--with-injection"] if injection else []), *(["--one-read"] if one_read else [])]
        env = {**os.environ, "PYTHONPATH": str(src), "PYTHONHASHSEED": os.environ.get("PYTHONHASHSEED", "0")}
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=7200)
        raw: dict[str, tuple[int, int]] = {}
        for dump in sorted(Path(tmp).glob("cg.out.*")):
            body = dump.read_text(errors="replace")
            trigger, total = _TRIGGER.search(body), _TOTAL.search(body)
            if trigger and total:
                raw[trigger.group(1)] = (int(total.group(1)), int(trigger.group(2)))
                if keep is not None:
                    keep.mkdir(parents=True, exist_ok=True)
                    shutil.copy(dump, keep / f"{trigger.group(1)}.out")
    if done.returncode != 0 or "empty" not in raw or set(raw) != {"empty", *pieces}:
        tail = "\n".join(done.stderr.splitlines()[-15:])
        raise SystemExit(f"the run under valgrind failed (exit {done.returncode}):\n{tail}")
    toggle = raw["empty"][0] / raw["empty"][1]
    print(f"(the client requests' own share, subtracted: {toggle:,.0f} instructions per call)", flush=True)
    return {label: (round(total / calls - toggle), calls) for label, (total, calls) in raw.items() if label != "empty"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--src", action="append", type=Path, help="a source tree (its src/ directory); repeatable")
    parser.add_argument("--pieces", default=DEFAULT, help=f"comma-separated, of request, {', '.join(PIECES)}")
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--stream", action="store_true", help="streamed requests (one upstream read per event)")
    parser.add_argument("--one-read", action="store_true", help="with --stream: the whole stream in one upstream read")
    parser.add_argument("--keep", type=Path, help="copy callgrind's dump of each piece to this directory "
                        "(as <piece>.out, for callgrind_annotate; with several --src the last tree's)")
    parser.add_argument("--no-gc", action="store_true", help="the cyclic garbage collector off while counting "
                        "(its collections land in a piece's window at random)")
    parser.add_argument("--with-injection", action="store_true", help="the injection scanner on (by default a no-op, as "
                        "in bench_gateway_overhead.py without --with-injection)")
    parser.add_argument("--child", help=argparse.SUPPRESS)  # (the run under valgrind: the helper's path)
    args = parser.parse_args()
    pieces = [p for p in args.pieces.split(",") if p]
    if not pieces or any(p != "request" and p not in PIECES for p in pieces):
        raise SystemExit(f"--pieces: comma-separated, of request, {', '.join(PIECES)}")
    if args.child:
        child(args.child, pieces, args.requests, args.stream, args.no_gc, args.with_injection, args.one_read)
        return
    from icount_scan import build_helper, trees  # bench/ is on sys.path

    with tempfile.TemporaryDirectory(prefix="icount-pieces-helper-") as tmp:
        helper = build_helper(tmp, _HELPER)
        for src in trees(args.src):
            got = count(src, helper, pieces, args.requests, args.stream, args.keep, args.no_gc, args.with_injection,
                        args.one_read)
            print(f"{src} ({args.requests} requests{', streamed' if args.stream else ''}"
                  f"{', one read' if args.one_read else ''}):", flush=True)
            for label in pieces:
                per, calls = got[label]
                print(f"  {label}: {per:,} instructions per call, {calls / args.requests:.2f} calls per request, "
                      f"{per * calls / args.requests:,.0f} per request", flush=True)


if __name__ == "__main__":
    main()
