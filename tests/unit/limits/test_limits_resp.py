"""The RESP2 client: parsing, pipelining, and every way a connection can fail (fake servers and real Redis)."""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import uvloop
from tests.unit.limits.conftest import REDIS_URL

from bastion.config.loader import ConfigError
from bastion.core.errors import ServiceUnavailable
from bastion.limits.backend import BudgetSlot
from bastion.limits.redis_backend import RedisBackend
from bastion.limits.resp import (
    Connection,
    ConnectionBroken,
    Reply,
    ReplyError,
    ReplyTimeout,
    RespClient,
    Script,
    _Incomplete,
    encode,
    parse,
    parse_redis_url,
)
from bastion.limits.scopes import ScopeLimit

CLOSE = b"<close>"
Handler = Callable[[list[Reply]], Awaitable[bytes | None]]

REPLIES: list[tuple[bytes, Reply]] = [
    (b":42\r\n", 42),
    (b":-7\r\n", -7),
    (b"+OK\r\n", "OK"),
    (b"$5\r\nhello\r\n", b"hello"),
    (b"$0\r\n\r\n", b""),
    (b"$4\r\na\r\nb\r\n", b"a\r\nb"),  # a payload may contain CRLF: lengths, not delimiters, end it
    (b"$-1\r\n", None),
    (b"*-1\r\n", None),
    (b"*0\r\n", []),
    (b"*3\r\n:1\r\n*2\r\n$1\r\nx\r\n*1\r\n$-1\r\n:3\r\n", [1, [b"x", [None]], 3]),
]


@pytest.mark.parametrize(("wire", "value"), REPLIES)
def test_parse_every_reply_type(wire: bytes, value: Reply) -> None:
    assert parse(wire, 0) == (value, len(wire))
    assert parse(b"junk" + wire + b":1\r\n", 4) == (value, 4 + len(wire))
    for cut in range(len(wire)):  # no prefix of a reply is ever taken for a reply
        with pytest.raises(_Incomplete):
            parse(wire[:cut], 0)


def test_error_replies_are_values_inside_arrays() -> None:
    v, _ = parse(b"*2\r\n-ERR inner\r\n:1\r\n", 0)
    assert isinstance(v, list) and isinstance(v[0], ReplyError) and str(v[0]) == "ERR inner" and v[1] == 1
    e, _ = parse(b"-NOSCRIPT No matching script\r\n", 0)
    assert isinstance(e, ReplyError) and e.noscript


@pytest.mark.parametrize("wire", [b"?1\r\n", b":x\r\n", b"$3\r\nabcde\r\n", b"\r\n"])
def test_parse_rejects_what_is_not_resp(wire: bytes) -> None:
    with pytest.raises(ValueError):
        parse(wire, 0)


def test_commands_are_arrays_of_bulk_strings() -> None:
    assert encode(["SET", "k", 1, 2.5, b"\x00"]) == b"*5\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\n1\r\n$3\r\n2.5\r\n$1\r\n\x00\r\n"
    assert parse(encode(["é", "a b"]), 0)[0] == ["é".encode(), b"a b"]
    s = Script("return 1")
    assert parse(s.evalsha(["k1"], [5, "v"]), 0)[0] == [b"EVALSHA", s.sha.encode(), b"1", b"k1", b"5", b"v"]
    with pytest.raises(TypeError):
        encode([None])  # type: ignore[list-item]


def test_url_forms() -> None:
    a = parse_redis_url("redis://user:p%40ss@10.0.0.1:6380/3")
    assert (a.host, a.port, a.db, a.tls, a.username, a.password) == ("10.0.0.1", 6380, 3, False, "user", "p@ss")
    assert "p@ss" not in repr(a)
    b = parse_redis_url("rediss://:secret@redis.example")
    assert (b.host, b.port, b.db, b.tls, b.username, b.password) == ("redis.example", 6379, 0, True, None, "secret")
    assert parse_redis_url("redis://127.0.0.1:6379").password is None


@pytest.mark.parametrize("url", ["unix:///tmp/redis.sock", "http://h:1/0", "redis://h:1/x", "redis://h:99999/0",
                                 "redis://:hunter2@h:1/0?ssl_cert_reqs=none", "127.0.0.1:6379"])
def test_unsupported_urls_are_config_errors(url: str) -> None:
    with pytest.raises(ConfigError) as e:
        RedisBackend(url)
    assert e.value.errors[0].startswith("limits.redis_url: ")
    assert "hunter2" not in str(e.value)


class FakeRedis:
    """A scripted RESP server: `handler(command)` returns the reply bytes, None to hang (no reply to
    this command or any later one, as Redis answers in order), or CLOSE; with `bytewise` every reply is written one byte at a time."""

    def __init__(self, handler: Handler, *, bytewise: bool = False, tls: ssl.SSLContext | None = None) -> None:
        self.handler = handler
        self.tls = tls
        self.bytewise = bytewise
        self.connections = 0
        self.commands: list[list[Reply]] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self.server: asyncio.Server | None = None

    async def __aenter__(self) -> FakeRedis:
        self.server = await asyncio.start_server(self._conn, "127.0.0.1", 0, ssl=self.tls)
        return self

    @property
    def url(self) -> str:
        assert self.server is not None
        scheme = "rediss" if self.tls else "redis"
        return f"{scheme}://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/0"

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.server.wait_closed()

    async def _conn(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.connections += 1
        buf = b""
        try:
            while data := await r.read(65536):
                buf += data
                while True:
                    try:
                        cmd, end = parse(buf, 0)
                    except _Incomplete:
                        break
                    buf = buf[end:]
                    assert isinstance(cmd, list)
                    self.commands.append(cmd)
                    out = await self.handler(cmd)
                    if out == CLOSE:
                        return
                    if out is None:  # like a hung Redis: nothing more is answered on this connection
                        await asyncio.Event().wait()
                    for i in range(len(out)) if self.bytewise else ():
                        w.write(out[i:i + 1])
                        await w.drain()
                        await asyncio.sleep(0)
                    if not self.bytewise:
                        w.write(out)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            w.close()


def bulk(b: bytes) -> bytes:
    return b"$%d\r\n%b\r\n" % (len(b), b)


async def echo(cmd: list[Reply]) -> bytes | None:
    """ECHO x (or any command whose first argument is x) → x; `slow…` answers after 0.3 s,
    `never` never, `close` closes, `nested` a nested array."""
    if cmd[0] in (b"AUTH", b"SELECT"):
        return b"+OK\r\n"
    x = cmd[1]
    assert isinstance(x, bytes)
    if x.startswith(b"slow"):
        await asyncio.sleep(0.3)
    if x == b"never":
        return None
    if x == b"close":
        return CLOSE
    if x == b"nested":
        return b"*3\r\n$-1\r\n*2\r\n:1\r\n*0\r\n-ERR in array\r\n"
    return bulk(x)


async def test_split_replies_one_byte_at_a_time() -> None:
    async with FakeRedis(echo, bytewise=True) as srv:
        c = RespClient(srv.url, timeout=5.0)
        got = await asyncio.gather(*(c.execute("ECHO", f"v{i}\r\n{i}") for i in range(50)))
        assert got == [f"v{i}\r\n{i}".encode() for i in range(50)]
        v = await c.execute("ECHO", "nested")
        assert isinstance(v, list) and v[:2] == [None, [1, []]] and isinstance(v[2], ReplyError)
        assert srv.connections == 1
        await c.close()


async def test_a_silent_server_times_out_every_pending_call_then_reconnects() -> None:
    async with FakeRedis(echo) as srv:
        c = RespClient(srv.url, timeout=0.1)
        results = await asyncio.gather(c.execute("ECHO", "never"), c.execute("ECHO", "a"),
                                       return_exceptions=True)
        # "a" was answered by nobody: it was queued behind "never" on the same connection
        assert [type(r) for r in results] == [ReplyTimeout, ReplyTimeout]
        assert await c.execute("ECHO", "b") == b"b"
        assert srv.connections == 2
        await c.close()


async def test_a_late_reply_is_never_handed_to_the_next_caller() -> None:
    async with FakeRedis(echo) as srv:
        c = RespClient(srv.url, timeout=0.1)
        with pytest.raises(ReplyTimeout):
            await c.execute("ECHO", "slow-1")
        await asyncio.sleep(0.3)  # the late reply would arrive now, on the old connection
        assert await c.execute("ECHO", "b") == b"b"
        assert await c.execute("ECHO", "c") == b"c"
        await c.close()


async def test_a_caller_that_gives_up_keeps_its_slot() -> None:
    gate = asyncio.Event()

    async def held(cmd: list[Reply]) -> bytes | None:
        if cmd[1] == b"first":
            await gate.wait()
        return await echo(cmd)

    async with FakeRedis(held) as srv:
        c = RespClient(srv.url, timeout=5.0)
        first = asyncio.create_task(c.execute("ECHO", "first"))
        await asyncio.sleep(0.05)
        first.cancel()
        second = asyncio.create_task(c.execute("ECHO", "second"))
        await asyncio.sleep(0.05)
        gate.set()
        assert await second == b"second"  # not "first", whose reply arrives first
        assert first.cancelled()
        await c.close()


async def test_a_connection_closed_mid_reply_fails_every_pending_call() -> None:
    async def half(cmd: list[Reply]) -> bytes | None:
        return b"*2\r\n:1\r\n" if cmd[1] == b"half" else await echo(cmd)

    async def half_then_close(cmd: list[Reply]) -> bytes | None:
        return CLOSE if cmd[1] == b"close" else await half(cmd)

    async with FakeRedis(half_then_close) as srv:
        c = RespClient(srv.url, timeout=5.0)
        results = await asyncio.gather(c.execute("ECHO", "half"), c.execute("ECHO", "close"),
                                       c.execute("ECHO", "x"), return_exceptions=True)
        assert [type(r) for r in results] == [ConnectionBroken] * 3
        assert await c.execute("ECHO", "y") == b"y"
        assert srv.connections == 2
        await c.close()


async def test_garbage_or_unsolicited_replies_drop_the_connection() -> None:
    async def garbage(cmd: list[Reply]) -> bytes | None:
        return b"?what\r\n" if cmd[1] == b"garbage" else b":1\r\n:2\r\n"  # the second reply is extra

    async with FakeRedis(garbage) as srv:
        c = RespClient(srv.url, timeout=5.0)
        with pytest.raises(ConnectionBroken):
            await c.execute("ECHO", "garbage")
        assert c.connects == 1
        assert await c.execute("ECHO", "x") == 1  # answered, then an extra reply nobody asked for
        await asyncio.sleep(0.05)
        assert c._conn is not None and c._conn.closed
        assert await c.execute("ECHO", "y") == 1
        assert c.connects == 3
        await c.close()


async def test_auth_and_select_come_from_the_url_before_any_command() -> None:
    async def auth(cmd: list[Reply]) -> bytes | None:
        if cmd[0] == b"AUTH" and cmd[-1] != b"p@ss":
            return b"-WRONGPASS invalid username-password pair\r\n"
        return await echo(cmd)

    async with FakeRedis(auth) as srv:
        port = srv.url.split(":")[2].split("/")[0]
        c = RespClient(f"redis://u:p%40ss@127.0.0.1:{port}/5", timeout=5.0)
        assert await c.execute("ECHO", "x") == b"x"
        assert srv.commands == [[b"AUTH", b"u", b"p@ss"], [b"SELECT", b"5"], [b"ECHO", b"x"]]
        await c.close()
        b = RedisBackend(f"redis://:wrong@127.0.0.1:{port}/0", timeout=1.0)
        with pytest.raises(ServiceUnavailable) as e:
            await b.budget_state(BudgetSlot("k", "day", "d", limit=1))
        assert "wrong" not in e.value.message and "ReplyError" in e.value.message
        assert b._client._conn is None  # a refused AUTH leaves no connection behind
        await b.close()


async def test_backend_slow_answer_fails_alone_broken_connection_marks_down() -> None:
    async with FakeRedis(echo) as srv:
        b = RedisBackend(srv.url, timeout=0.1, cooldown=60.0)
        with pytest.raises(ServiceUnavailable):
            await b._call("op", None, ["HMGET", "never"])  # the fake server hangs on it
        assert b._down_until == 0.0 and b.failures.count == 1
        srv.handler = lambda cmd: asyncio.sleep(0, CLOSE)
        with pytest.raises(ServiceUnavailable):
            await b.budget_state(BudgetSlot("k", "day", "d", limit=1))
        assert b._down_until > 0.0
        with pytest.raises(ServiceUnavailable, match="unreachable"):  # fails fast, no connection attempt
            await b.budget_state(BudgetSlot("k", "day", "d", limit=1))
        assert srv.connections == 2 and b.failures.count == 3
        await b.close()


async def test_close_leaves_no_task_or_transport_behind() -> None:
    async with FakeRedis(echo) as srv:
        c = RespClient(srv.url, timeout=5.0)
        assert await c.execute("ECHO", "a") == b"a"
        conn = c._conn
        assert isinstance(conn, Connection)
        pending = asyncio.ensure_future(c.execute("ECHO", "never"))
        await asyncio.sleep(0.05)
        await c.close()
        with pytest.raises(ConnectionBroken):
            await pending
        assert conn.closed and conn.lost.done() and conn._transport is None and conn._timer is None
        assert asyncio.all_tasks() - srv._tasks == {asyncio.current_task()}


async def test_close_while_connecting_fails_the_waiting_calls_cleanly() -> None:
    async def hang_on_auth(cmd: list[Reply]) -> bytes | None:
        return None if cmd[0] == b"AUTH" else await echo(cmd)

    async with FakeRedis(hang_on_auth) as srv:
        port = srv.url.split(":")[2].split("/")[0]
        c = RespClient(f"redis://:pw@127.0.0.1:{port}/0", timeout=5.0)
        calls = [asyncio.ensure_future(c.execute("ECHO", "x")) for _ in range(3)]
        await asyncio.sleep(0.05)
        assert srv.commands == [[b"AUTH", b"pw"]]
        await c.close()
        for call in calls:  # a failure, not a cancellation the callers never asked for
            with pytest.raises(ConnectionBroken):
                await call
        assert asyncio.all_tasks() - srv._tasks == {asyncio.current_task()}


@pytest.fixture
async def redis_client(redis_available: None) -> AsyncIterator[RespClient]:
    c = RespClient(REDIS_URL, timeout=5.0)
    yield c
    await c.close()


async def test_a_thousand_concurrent_calls_each_get_their_own_reply(redis_client: RespClient) -> None:
    incr = Script("local v = redis.call('INCRBY', KEYS[1], ARGV[1]) redis.call('PEXPIRE', KEYS[1], 60000) "
                  "return {v, ARGV[2]}")
    prefix = f"bastion-test:{uuid.uuid4().hex}:"
    got = await asyncio.gather(*(redis_client.evalsha(incr, [f"{prefix}{i}"], [i * 7, f"tag{i}"])
                                 for i in range(1000)))
    assert got == [[i * 7, f"tag{i}".encode()] for i in range(1000)]
    assert redis_client.connects == 1  # all pipelined on one connection
    await redis_client.execute("DEL", *(f"{prefix}{i}" for i in range(1000)))


async def test_real_error_nil_and_nested_replies(redis_client: RespClient) -> None:
    boom = Script("return redis.error_reply('BOOM it failed')")
    with pytest.raises(ReplyError, match="BOOM it failed"):
        await redis_client.evalsha(boom, [], [])
    nested = Script("return {1, {2, {'x', false}}, false}")
    assert await redis_client.evalsha(nested, [], []) == [1, [2, [b"x", None]], None]
    key = f"bastion-test:{uuid.uuid4().hex}"
    assert await redis_client.hmget(key, "a", "b") == [None, None]
    await redis_client.execute("SET", key, "v", "PX", 60000)
    with pytest.raises(ReplyError, match="WRONGTYPE"):
        await redis_client.hmget(key, "a")
    assert await redis_client.ping() == "PONG"  # the connection survives error replies
    await redis_client.execute("DEL", key)


# SCRIPT FLUSH empties the script cache of the whole Redis server: a test that counts EVALSHA round
# trips (test_limits_redis.py) must not run beside it, so under pytest-xdist both share one worker.
@pytest.mark.xdist_group("redis_script_cache")
async def test_noscript_after_script_flush_falls_back_to_eval(redis_client: RespClient) -> None:
    s = Script(f"return '{uuid.uuid4().hex}'")
    await redis_client.script_load(s)
    await redis_client.execute("SCRIPT", "FLUSH")
    conn = redis_client._conn
    assert isinstance(conn, Connection)
    sent: list[Reply] = []
    orig = conn.send

    def recording(payload: bytes) -> asyncio.Future[Reply]:
        cmd = parse(payload, 0)[0]
        assert isinstance(cmd, list)
        sent.append(cmd[0])
        return orig(payload)

    conn.send = recording  # type: ignore[method-assign]
    want = s.source.split("'")[1].encode()
    assert await redis_client.evalsha(s, [], []) == want
    assert await redis_client.evalsha(s, [], []) == want  # EVAL cached it again
    assert sent == [b"EVALSHA", b"EVAL", b"EVALSHA"]


async def test_backend_limits_hold_under_concurrency(redis_backend: RedisBackend) -> None:
    s = (ScopeLimit("k:burst", "k", rpm=100, max_parallel=1000),)
    got = await asyncio.gather(*(redis_backend.acquire(f"r{i}", s, 1, 1_800_000_000.0) for i in range(300)))
    assert sum(d.allowed for d in got) == 100
    assert redis_backend._client.connects == 1


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_a_reply_that_arrived_while_the_loop_was_busy_is_not_a_timeout(loop: str, redis_available: None) -> None:
    """uvloop runs due timers before it polls sockets: after the loop was blocked past a deadline,
    the watchdog must still let the reply that is already waiting be read."""
    async def main() -> None:
        c = RespClient(REDIS_URL, timeout=5.0)
        assert await c.ping() == "PONG"
        assert c._conn is not None
        c._conn._timeout = 0.05  # only now: a loaded CI machine may take longer to connect
        call = asyncio.ensure_future(c.ping())
        await asyncio.sleep(0)  # written
        time.sleep(0.2)  # noqa: ASYNC251 - a CPU-bound stretch that blocks the loop past the deadline
        assert await call == "PONG"
        assert c.connects == 1
        await c.close()

    uvloop.run(main()) if loop == "uvloop" else asyncio.run(main())


@pytest.fixture
def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is needed to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return cert, key


async def test_rediss_verifies_the_server_certificate(self_signed: tuple[Path, Path]) -> None:
    cert, key = self_signed
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    async with FakeRedis(echo, tls=server_ctx) as srv:
        trusted = RespClient(srv.url, timeout=5.0, ssl_context=ssl.create_default_context(cafile=str(cert)))
        assert await trusted.execute("ECHO", "over tls") == b"over tls"
        await trusted.close()
        b = RedisBackend(srv.url, timeout=5.0)  # system CAs: this self-signed certificate is refused
        with pytest.raises(ServiceUnavailable, match="SSLCertVerificationError"):
            await b.budget_state(BudgetSlot("k", "day", "d", limit=1))
        await b.close()
