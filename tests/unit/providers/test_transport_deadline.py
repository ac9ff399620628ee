"""The first-byte deadlines of providers/deadline.py (one timer per DeadlineClock, no
asyncio.timeout): a deadline fires as UpstreamTimeout, a cancellation from elsewhere (client gone)
still propagates as CancelledError even when the deadline fired too, a call that finished is never
cancelled later, and the clock's one timer serves every pending deadline in order."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from bastion.core.errors import UpstreamTimeout
from bastion.providers.deadline import Deadline, DeadlineClock
from bastion.providers.transport import Endpoint, Transport


async def _guarded(delay: float, wait: asyncio.Future[None]) -> str:
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    d = DeadlineClock(loop).start(task, delay)
    try:
        try:
            await wait
        finally:
            d.cancel()
        return "done"
    except asyncio.CancelledError:
        if not d.expired():
            raise
        return "timeout"


async def test_the_deadline_turns_its_own_cancellation_into_a_timeout() -> None:
    wait: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(_guarded(0.01, wait))
    assert await task == "timeout"
    assert task.cancelling() == 0  # the cancellation request was withdrawn


async def test_a_cancellation_from_elsewhere_propagates() -> None:
    wait: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(_guarded(60, wait))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_an_outside_cancellation_wins_when_the_deadline_fires_at_the_same_time() -> None:
    loop = asyncio.get_running_loop()
    wait: asyncio.Future[None] = loop.create_future()
    seen: list[Deadline] = []

    async def body() -> str:
        task = asyncio.current_task()
        assert task is not None
        d = DeadlineClock(loop).start(task, 60)
        seen.append(d)
        try:
            await wait
            return "done"
        except asyncio.CancelledError:
            if not d.expired():
                raise
            return "timeout"

    task = asyncio.create_task(body())
    await asyncio.sleep(0)
    seen[0]._fire()  # the deadline fires ...
    task.cancel()  # ... and the client goes away in the same loop iteration
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_finished_wait_is_not_cancelled_later() -> None:
    loop = asyncio.get_running_loop()
    wait: asyncio.Future[None] = loop.create_future()
    wait.set_result(None)
    assert await _guarded(0.01, wait) == "done"
    await asyncio.sleep(0.03)  # past the deadline: nothing fires into this task any more


@pytest.fixture
async def silent_upstream() -> AsyncIterator[str]:
    """Accepts connections, reads the request, never answers."""
    held: list[asyncio.StreamWriter] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)
        await reader.read(65536)

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    for w in held:
        w.close()
    server.close()
    await server.wait_closed()


def _endpoint(url: str) -> Endpoint:
    return Endpoint(name="p", base_url=url, auth_headers={}, connect_timeout=0.05, first_byte_timeout=0.05,
                    idle_timeout=1, total_timeout=5, max_connections=2)


async def test_a_silent_upstream_times_out_and_the_call_is_counted_as_failed(silent_upstream: str) -> None:
    t = Transport()
    try:
        with pytest.raises(UpstreamTimeout, match="did not answer"):
            await t.post(_endpoint(silent_upstream), "/x", b"{}")
        assert t.stats.in_flight == 0 and t.stats.open_responses == 0 and t.stats.failures_total == 1
        task = asyncio.current_task()
        assert task is not None and task.cancelling() == 0
    finally:
        await t.close()


async def test_a_cancelled_call_to_a_silent_upstream_propagates_cancellation(silent_upstream: str) -> None:
    t = Transport()
    ep = Endpoint(name="p", base_url=silent_upstream, auth_headers={}, connect_timeout=5, first_byte_timeout=60,
                  idle_timeout=1, total_timeout=5, max_connections=2)
    try:
        call = asyncio.create_task(t.post(ep, "/x", b"{}"))
        await asyncio.sleep(0.05)
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        assert t.stats.in_flight == 0
    finally:
        await t.close()


async def test_one_clock_fires_each_deadline_at_its_time_and_skips_finished_ones() -> None:
    loop = asyncio.get_running_loop()
    clock = DeadlineClock(loop)
    outcome: dict[str, str] = {}

    async def call(name: str, delay: float, wait: asyncio.Future[None]) -> None:
        task = asyncio.current_task()
        assert task is not None
        d = clock.start(task, delay)
        try:
            try:
                await wait
            finally:
                d.cancel()
            outcome[name] = "done"
        except asyncio.CancelledError:
            if not d.expired():
                raise
            outcome[name] = "timeout"

    soon: asyncio.Future[None] = loop.create_future()
    slow = asyncio.create_task(call("slow", 0.2, loop.create_future()))
    quick = asyncio.create_task(call("quick", 0.02, loop.create_future()))  # earlier than the armed timer
    served = asyncio.create_task(call("served", 0.01, soon))
    await asyncio.sleep(0)
    soon.set_result(None)
    await asyncio.gather(served, quick)
    assert outcome == {"served": "done", "quick": "timeout"}
    assert not slow.done()  # its deadline is later: still waiting
    await slow
    assert outcome["slow"] == "timeout"
    assert not clock.pending


async def test_a_finished_deadline_leaves_the_clock_empty_and_close_disarms_it() -> None:
    loop = asyncio.get_running_loop()
    clock = DeadlineClock(loop)
    task = asyncio.current_task()
    assert task is not None
    d = clock.start(task, 0.01)
    assert d in clock.pending
    d.cancel()
    assert not clock.pending
    clock.close()
    await asyncio.sleep(0.03)  # nothing fires into this task
