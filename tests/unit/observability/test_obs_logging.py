"""JSON logs: one line per request, request ids, no secrets, no forged lines."""

from __future__ import annotations

import io
import logging
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
import pytest

from bastion.config.audit import ObservabilityConfig
from bastion.core.context import Principal, RequestContext
from bastion.core.types import Usage
from bastion.observability.logging import (
    SecretRedactingFilter,
    access_log,
    flush_access_log,
    request_id_var,
    setup_logging,
)

PROVIDER_KEY = "sk-proj-AbCdEfGhIjKlMnOpQrStUvWx0123"
VIRTUAL_KEY = "bst_k7f3a9_9vJmZqXrT4LpWs2NcYb8Hd5"


@pytest.fixture
def logs() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    stream = io.StringIO()
    setup_logging(ObservabilityConfig(log_level="debug"), stream=stream)
    yield stream
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [orjson.loads(x) for x in stream.getvalue().splitlines()]


def test_access_log_is_one_json_line_per_request(logs: io.StringIO) -> None:
    ctx = RequestContext(request_id="req-1", ingress="anthropic", model="claude", status=200, stream=True,
                         principal=Principal("k1", "svc", team="t"), usage=Usage(3, 4), cost_micros=9)
    access_log(ctx)
    [line] = lines(logs)
    assert line["msg"] == "request" and line["logger"] == "bastion.access"
    assert line["request_id"] == "req-1" and line["key_id"] == "k1" and line["team"] == "t"
    assert line["status"] == 200 and line["input_tokens"] == 3 and line["output_tokens"] == 4
    assert line["stream"] is True and line["cost_micros"] == 9


def test_access_log_scrubs_client_text(logs: io.StringIO) -> None:
    ctx = RequestContext(request_id=f"x\n{{\"level\":\"error\"}} {VIRTUAL_KEY}", ingress="openai",
                         model=f"{PROVIDER_KEY}\x1b[2J", presented_key_id=VIRTUAL_KEY, status=401)
    access_log(ctx)
    text = logs.getvalue()
    assert text.count("\n") == 1
    assert PROVIDER_KEY not in text and "9vJmZqXrT4LpWs2NcYb8Hd5" not in text and "\x1b" not in text


def test_error_lines_carry_the_request_id(logs: io.StringIO) -> None:
    log = logging.getLogger("bastion.test")
    log.error("upstream failed", extra={"request_id": "req-9"})
    token = request_id_var.set("req-ctx")
    try:
        log.warning("from context")
    finally:
        request_id_var.reset(token)
    first, second = lines(logs)
    assert first["request_id"] == "req-9" and first["level"] == "error"
    assert second["request_id"] == "req-ctx"


def test_secrets_in_messages_args_and_exceptions_are_redacted(logs: io.StringIO) -> None:
    log = logging.getLogger("bastion.test")
    log.info("calling with Authorization: Bearer %s", PROVIDER_KEY)
    log.info("key %s\nFORGED LINE", VIRTUAL_KEY)
    try:
        raise ValueError(f"bad key {PROVIDER_KEY}")
    except ValueError:
        log.exception("boom")
    text = logs.getvalue()
    assert PROVIDER_KEY not in text and "9vJmZqXrT4LpWs2NcYb8Hd5" not in text
    assert len(text.splitlines()) == 3
    exc_line = lines(logs)[2]
    assert exc_line["exc_type"] == "ValueError" and "[REDACTED]" in str(exc_line["exc"])


def test_foreign_handler_with_the_filter(logs: io.StringIO) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler.addFilter(SecretRedactingFilter())
    log = logging.getLogger("uvicorn.test")
    log.addHandler(handler)
    try:
        log.warning("client sent %s\nfake", PROVIDER_KEY)
    finally:
        log.removeHandler(handler)
    assert stream.getvalue() == "client sent [REDACTED]\\x0afake\n"


def test_access_log_can_be_switched_off(logs: io.StringIO) -> None:
    setup_logging(ObservabilityConfig(access_log=False), stream=logs)
    access_log(RequestContext(request_id="r", ingress="openai"))
    assert logs.getvalue() == ""
    assert sum(1 for h in logging.getLogger().handlers if getattr(h, "_bastion_handler", False)) == 1


def test_access_line_written_directly_is_the_formatters_line(logs: io.StringIO, monkeypatch: pytest.MonkeyPatch) -> None:
    """With our handler alone the access line skips the LogRecord; it is byte for byte the line the
    logging path writes, and any other handler (a capture, a filter) gets the record path back."""
    import re

    import bastion.observability.logging as obs

    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [h for h in root.handlers if getattr(h, obs._MARK, False)])  # pytest's out
    monkeypatch.setattr(obs.time, "time", lambda: 1_767_000_000.125)  # LogRecord reads the same clock
    ctx = RequestContext(request_id="req-7", ingress="openai", model="m\x1b", status=200,
                         principal=Principal("k1", "svc", team="t"), usage=Usage(3, 4), cost_micros=9)
    sole = obs._sole_handler
    assert sole() is not None
    access_log(ctx)
    direct = logs.getvalue()
    logs.seek(0)
    logs.truncate()
    monkeypatch.setattr(obs, "_sole_handler", lambda: None)
    access_log(ctx)

    def same(line: str) -> str:
        return re.sub(r'"latency_ms":[0-9.e-]+', '"latency_ms":0', line)  # the clock moved between the two
    assert same(direct) == same(logs.getvalue()) and direct.count("\n") == 1
    assert '"ts":"2025-12-29T09:20:00.125Z"' in direct and "\\x1b" in direct
    monkeypatch.setattr(obs, "_sole_handler", sole)
    seen: list[logging.LogRecord] = []
    extra = logging.Handler()
    extra.emit = seen.append  # type: ignore[method-assign]
    logging.getLogger("bastion").addHandler(extra)
    try:
        assert sole() is None
        access_log(ctx)
        assert len(seen) == 1 and seen[0].name == "bastion.access"
    finally:
        logging.getLogger("bastion").removeHandler(extra)
    ours = root.handlers[0]
    ours.addFilter(lambda r: False)
    try:
        before = logs.getvalue()
        assert sole() is None
        access_log(ctx)
        assert logs.getvalue() == before  # a handler's filter still decides
    finally:
        ours.filters.clear()


class _CountingStream(io.StringIO):
    """A stream that holds what was written until flushed, as a file's buffer does."""

    def __init__(self) -> None:
        super().__init__()
        self.flushes = 0
        self.written = ""

    def flush(self) -> None:
        self.flushes += 1
        self.written = self.getvalue()


def _request(n: int) -> RequestContext:
    return RequestContext(request_id=f"req_{n:08x}", ingress="openai", model="m", status=200,
                          principal=Principal("k1", "svc", team="t"), usage=Usage(3, 4))


@pytest.fixture
def counted() -> Iterator[_CountingStream]:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    stream = _CountingStream()
    setup_logging(ObservabilityConfig(), stream=stream)
    yield stream
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])


def _ours_only() -> None:
    """Our handler alone (pytest's capture out): the access line takes the direct path."""
    root = logging.getLogger()
    root.handlers[:] = [h for h in root.handlers if getattr(h, "_bastion_handler", False)]


def test_access_lines_on_the_loop_share_one_flush_within_the_interval(counted: _CountingStream) -> None:
    """On the event loop a burst of access lines costs one flush (a write system call on a file), made
    within ACCESS_FLUSH_S of the first line; every line is then written out."""
    import asyncio

    from bastion.observability.logging import ACCESS_FLUSH_S

    async def burst() -> tuple[int, int]:
        for n in range(5):
            access_log(_request(n))
        before = counted.flushes
        await asyncio.sleep(ACCESS_FLUSH_S * 3)
        return before, counted.flushes

    _ours_only()
    before, after = asyncio.run(burst())
    assert (before, after) == (0, 1)
    assert [line["request_id"] for line in map(orjson.loads, counted.written.splitlines())] == \
        [f"req_{n:08x}" for n in range(5)]
    # a loop that ended before its flush came leaves nothing behind: the next loop flushes its own lines
    asyncio.run(burst())
    assert counted.flushes == 2 and counted.written.count("\n") == 10


def test_access_lines_after_the_first_look_up_no_running_loop(counted: _CountingStream,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Once a flush is due on the running loop, a line finds it there: no `get_running_loop()` per line (a
    getpid() system call each on Python 3.11); only the first line of an interval asks for the loop."""
    import asyncio

    from bastion.observability.logging import ACCESS_FLUSH_S

    asked: list[str] = []
    for name in ("get_running_loop", "_get_running_loop"):
        real = getattr(asyncio, name)
        monkeypatch.setattr(asyncio, name, lambda real=real, name=name: asked.append(name) or real())

    async def burst() -> list[str]:
        for n in range(5):
            access_log(_request(n))
        seen = list(asked)
        await asyncio.sleep(ACCESS_FLUSH_S * 3)
        return seen

    _ours_only()
    assert asyncio.run(burst()) == ["get_running_loop"]
    assert len(counted.written.splitlines()) == 5


def test_access_line_off_the_loop_is_flushed_at_once(counted: _CountingStream) -> None:
    _ours_only()
    access_log(_request(1))
    assert counted.flushes == 1 and orjson.loads(counted.written)["request_id"] == "req_00000001"


def test_gateway_shutdown_flushes_the_access_lines_still_buffered(counted: _CountingStream, tmp_path) -> None:
    """No access line is lost at shutdown, even one written just before it (no interval waited)."""
    import asyncio

    from bastion.app import create_app
    from bastion.config.schema import BastionConfig

    app = create_app(BastionConfig.model_validate({"store": {"url": f"sqlite:///{tmp_path / 'b.db'}"}}))
    _ours_only()

    async def serve_then_stop() -> int:
        gw = app.gateway  # type: ignore[attr-defined]
        await gw.startup()
        access_log(_request(7))
        flushed_before = counted.flushes
        await gw.shutdown()
        return flushed_before

    assert asyncio.run(serve_then_stop()) == 0
    assert "req_00000007" in counted.written


@pytest.mark.parametrize("created", [1_767_000_000.0, 1_767_000_000.125, 1_767_000_000.9999999, 1_767_000_059.5005,
                                     -1.25, 0.0])
def test_line_times_are_milliseconds_as_three_digits(created: float) -> None:
    """The millisecond table writes what the format spec `{ms:03d}` writes."""
    from datetime import UTC, datetime

    from bastion.observability.logging import _ts

    whole = int(created)
    expected = f"{datetime.fromtimestamp(whole, UTC).strftime('%Y-%m-%dT%H:%M:%S')}.{int((created - whole) * 1000):03d}Z"
    assert _ts(created) == expected


class _CountingRaw(io.RawIOBase):
    """The file descriptor under a stream: each `write` here is one write system call."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, b: object) -> int:
        data = bytes(b)  # type: ignore[call-overload]
        self.writes.append(data)
        return len(data)

    def text(self) -> str:
        return b"".join(self.writes).decode()


@pytest.fixture
def stderr(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[], _CountingRaw]]:
    """sys.stderr as Python makes it for a pipe (line-buffered text over a buffer), our handler alone on
    it: installed by the test itself (pytest puts its capture back on sys.stderr for each phase)."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)

    def install() -> _CountingRaw:
        raw = _CountingRaw()
        monkeypatch.setattr(sys, "stderr", io.TextIOWrapper(io.BufferedWriter(raw), encoding="utf-8",
                                                            line_buffering=True))
        setup_logging(ObservabilityConfig())
        _ours_only()
        return raw

    yield install
    flush_access_log()
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])


def _ids(text: str) -> list[object]:
    """Each line's request id; the message of a line without one; a line that is not JSON as it is."""
    out: list[object] = []
    for line in text.splitlines():
        record = orjson.loads(line) if line.startswith("{") else {"msg": line}
        out.append(record.get("request_id", record["msg"]))
    return out


def test_access_lines_on_stderr_are_written_in_few_whole_line_writes(stderr: Callable[[], _CountingRaw]) -> None:
    """Line-buffered stderr made one write system call per access line; now a burst of lines takes a write
    per 4 KiB (PIPE_BUF: atomic on a pipe, so workers sharing stderr never split each other's lines)."""
    import asyncio

    from bastion.observability.logging import ACCESS_FLUSH_S

    n = 300
    out = stderr()

    async def burst() -> int:
        for i in range(n):
            access_log(_request(i))
        before = len(out.writes)
        await asyncio.sleep(ACCESS_FLUSH_S * 3)
        return before

    assert asyncio.run(burst()) == 0
    assert _ids(out.text()) == [f"req_{i:08x}" for i in range(n)]
    assert len(out.writes) <= len(out.text()) // 3500 + 1 < n // 5  # (~450 bytes a line: 9 in a write)
    assert all(len(w) <= 4096 and w.endswith(b"\n") for w in out.writes)


def test_a_warning_or_other_stderr_write_comes_at_once_after_the_pending_lines(
        stderr: Callable[[], _CountingRaw]) -> None:
    import asyncio

    out = stderr()

    async def interleaved() -> list[list[object]]:
        seen = []
        access_log(_request(1))
        logging.getLogger("bastion.test").warning("upstream slow")
        seen.append(_ids(out.text()))
        access_log(_request(2))
        print("a traceback, say", file=sys.stderr)
        seen.append(_ids(out.text()))
        access_log(_request(3))
        access_log(_request(4))
        seen.append(_ids(out.text()))
        return seen

    after_warning, after_print, pending = asyncio.run(interleaved())
    assert after_warning == ["req_00000001", "upstream slow"]  # the warning at once, after the pending line
    assert after_print == ["req_00000001", "upstream slow", "req_00000002", "a traceback, say"]
    assert pending == after_print  # access lines alone wait for the interval
    flush_access_log()  # (the loop ended before its timer)
    assert _ids(out.text())[-2:] == ["req_00000003", "req_00000004"]


def test_shutdown_writes_the_pending_lines_to_stderr(stderr: Callable[[], _CountingRaw]) -> None:
    import asyncio

    out = stderr()

    async def serve_then_stop() -> str:
        for i in range(50):
            access_log(_request(i))
        text = out.text()
        flush_access_log()  # what Gateway.shutdown does
        return text

    assert asyncio.run(serve_then_stop()) == ""
    assert _ids(out.text()) == [f"req_{i:08x}" for i in range(50)]


def test_a_forked_child_leaves_its_parents_pending_lines_to_the_parent(tmp_path: Path) -> None:
    import asyncio
    import os

    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    out = (tmp_path / "log").open("a")
    try:
        setup_logging(ObservabilityConfig(), stream=out)
        _ours_only()

        async def fork_with_a_pending_line() -> int:
            access_log(_request(1))
            pid = os.fork()
            if pid == 0:  # the child writes what it has (nothing) and leaves
                flush_access_log()
                os._exit(0)
            return pid

        pid = asyncio.run(fork_with_a_pending_line())  # its timer wrote the parent's line
        os.waitpid(pid, 0)
        flush_access_log()
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        out.close()
    assert _ids((tmp_path / "log").read_text()) == ["req_00000001"]


def _contexts() -> Iterator[RequestContext]:
    from bastion.core.context import Attempt, Finding

    for n, (rid, model, key, addr) in enumerate([
            ("req_0af3", "gpt-4o-mini", None, "127.0.0.1"), ("x,y\"z%s%%,", "m,%d\\\"", "bst_k1", None),
            ("a\x00\x01\u2028", "\x00%s\x00", None, "10.0.0.1,2"), ("é,ü", "模型", "bst_" + "x" * 30, "::1"),
            (f"r {VIRTUAL_KEY}", PROVIDER_KEY, VIRTUAL_KEY, "%s")]):
        for variant in range(4):
            ctx = RequestContext(request_id=rid, ingress="anthropic" if n % 2 else "openai", model=model,
                                 client_addr=addr, presented_key_id=key, stream=bool(variant % 2),
                                 status=(200, 429, 500, 0)[variant], cost_micros=(0, 7, 10**12, 3)[variant])
            if variant != 1:
                ctx.principal = Principal(f"k{n}", "svc", team=None if variant == 2 else f"t,{n}%s")
            if variant:
                ctx.usage = Usage(variant * 11, (0, 5, 10**15, 2)[variant])
                ctx.attempts = [Attempt("p1", "m1", "error", 1.5), Attempt(f"p,{variant}", "m2", "ok", 2.25)]
                ctx.first_token_at = ctx.started + (0.0123456, 1e-7, 12345.6789)[variant - 1]
                ctx.upstream_ms = (0.0004, 1e16, 33.3335)[variant - 1]
                ctx.error_code = "rate_limit" if variant == 2 else None
                ctx.finish_reason = "stop" if variant == 3 else None
                ctx.findings = [Finding("pii", "email", 0, 1)] * variant
                ctx.client_disconnected = variant == 3
            yield ctx


def test_access_line_from_a_template_is_the_mapping_serialised(monkeypatch: pytest.MonkeyPatch) -> None:
    """The direct access line is put in a template kept per combination of the fields that repeat: byte for
    byte the mapping's serialisation, whatever the values hold (commas, quotes, `%`, the marks, non-ASCII),
    on the first line of a combination and on the next; a template is kept under scrubbed client text."""
    import bastion.core.context as context
    import bastion.observability.logging as obs

    monkeypatch.setattr(obs.time, "time", lambda: 1_767_000_000.125)
    monkeypatch.setattr(context.time, "perf_counter", lambda: 1000.0)
    monkeypatch.setattr(obs, "_TEMPLATES", {})
    for ctx in _contexts():
        ctx.started = 1000.0 - (0.5, 1e-9, 123.4567891)[ctx.status % 3]
        expected = orjson.dumps(obs._fields(ctx), option=orjson.OPT_APPEND_NEWLINE)
        assert obs._line(ctx) == expected
        assert obs._line(ctx) == expected  # from the template kept
    assert obs._TEMPLATES  # (most combinations took a template)
    kept = repr(list(obs._TEMPLATES))
    assert PROVIDER_KEY not in kept and VIRTUAL_KEY not in kept  # keys hold client text scrubbed
