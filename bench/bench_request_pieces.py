"""Benchmark: µs per call of the per-request pieces around the scanners, on the gateway bench's texts.

Run: taskset -c 1 .venv/bin/python bench/bench_request_pieces.py
Compare two trees by running it once per tree (e.g. PYTHONPATH=<other tree>/src for the other one).
Texts: the bench's 200-word prompt behind its per-request marker ("Ticket <tag>-<n>: ", bench/bodies.py,
bench/wrk/post.lua), its 86-character system prompt, and the fake upstream's 348-character reply.
Pieces: the secrets and PII scans and `may_match`s, `is_plain`, the output guard on the reply, the
scrubbing of the access log's and audit record's client-chosen fields, one access log line (to a file),
building an audit record and chaining it. Best of 7 repeats (robust on a shared machine).
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import tempfile
import time
import timeit
from collections.abc import Callable, Coroutine
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bodies import SYSTEM, prompt
from upstream import openai_json

from bastion.audit.chain import Chain
from bastion.audit.record import build_record
from bastion.config.audit import ObservabilityConfig
from bastion.config.policy import PolicyConfig
from bastion.core.context import Attempt, Principal, RequestContext
from bastion.core.types import ChatRequest, ChatResponse, Choice, Message, TextPart, Usage
from bastion.observability.logging import access_log, setup_logging
from bastion.observability.scrub import scrub
from bastion.policy.normalize import is_plain
from bastion.policy.scanners.pii import PiiScanner
from bastion.policy.scanners.secrets import SecretsScanner
from bastion.policy.stage import PolicyStage

USER = "Ticket 3412.9876543210123-17: " + prompt(200)
REPLY = json.loads(openai_json())["choices"][0]["message"]["content"]


def best(fn: Callable[[], object], number: int = 5000) -> float:
    return min(timeit.repeat(fn, number=number, repeat=7)) / number * 1e6


def _run(coro: Coroutine[object, object, object]) -> object:
    """Drive a coroutine that never waits (no event loop: its cost would hide the piece's)."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value
    raise RuntimeError("the coroutine waited")


def finished_ctx() -> RequestContext:
    ctx = RequestContext(request_id="req_1a2b3c4d000000abcd", ingress="openai", client_addr="127.0.0.1")
    ctx.principal = Principal(key_id="k_abc123", name="bench", team="bench")
    ctx.model, ctx.status, ctx.finish_reason, ctx.policy_name = "gpt-4o-mini", 200, "stop", "default"
    ctx.attempts.append(Attempt("openai", "gpt-4o-mini", "ok", 200, 1.2))
    ctx.usage = Usage(260, 36)
    ctx.first_token_at = time.perf_counter()
    return ctx


def main() -> None:
    secrets, pii = SecretsScanner(), PiiScanner()
    rows: list[tuple[str, float]] = []
    for name, text in (("user 1.2 kB", USER), ("system", SYSTEM), ("reply", REPLY)):
        rows.append((f"secrets.scan {name}", best(lambda t=text: secrets.scan(t))))
        rows.append((f"pii.scan {name}", best(lambda t=text: pii.scan(t))))
    rows.append(("secrets.may_match reply", best(lambda: secrets.may_match(REPLY))))
    rows.append(("pii.may_match reply", best(lambda: pii.may_match(REPLY))))
    rows.append(("is_plain user", best(lambda: is_plain(USER))))

    stage = PolicyStage({"default": PolicyConfig.model_validate({
        "output": [{"scanner": "secrets", "action": "block"}, {"scanner": "pii", "action": "redact"}]})})
    ctx = RequestContext(request_id="b", ingress="openai")
    asyncio.run(stage.check(ctx, ChatRequest(model="m", messages=[Message("user", [TextPart("hi")])])))
    resp = ChatResponse("id", "m", [Choice(0, [TextPart(REPLY)], [], "stop")])
    rows.append(("OutputGuard.check_response reply", best(lambda: _run(stage.guard.check_response(ctx, resp)))))

    rows.append(("scrub request id + client addr + model",
                 best(lambda: (scrub("req_1a2b3c4d000000abcd"), scrub("127.0.0.1"), scrub("gpt-4o-mini")))))
    done = finished_ctx()
    with tempfile.TemporaryDirectory() as tmp, (Path(tmp) / "access.log").open("w") as log_file:
        setup_logging(ObservabilityConfig(access_log=True), stream=log_file)
        rows.append(("access_log (one line, to a file)", best(lambda: access_log(done))))
        logging.getLogger().handlers.clear()
    rows.append(("build_record", best(lambda: build_record(done))))
    record, chain = build_record(done), Chain("w-0123456789abcdef")
    rows.append(("Chain.append", best(lambda: chain.append(record))))
    print("| piece | µs per call |")
    print("| --- | ---: |")
    for name, us in rows:
        print(f"| {name} | {us:.2f} |")


if __name__ == "__main__":
    main()
