"""Relays a stream of SSE frames to the client with one write per burst: frames that are ready
without waiting (those produced from one upstream read) leave in one ASGI body message.

Each frame of a stream used to be its own `send` (a chunked frame and a `write()` syscall each);
the pass-through a gateway is measured against writes once per upstream read. Whatever wraps the
upstream (router, output guard, observers, encoder), the moment the frame source would *wait* is
exactly the moment nothing more can be produced from what has arrived, so that is when the
frames gathered so far are written: a frame is never held back while the source waits (no
added latency, whatever the output guard releases), and never split from its burst.

The source is stepped by hand (its `__anext__` awaitable is sent `None` until it either returns
a frame or hands out the future it waits on); a wait is then completed with the same semantics
as `await` (`yield from`), cancellation included.
"""

from __future__ import annotations

import types
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, MutableMapping
from typing import Any, Protocol

Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class _Step(Protocol):
    """The iterator behind an awaitable (`__await__()`): a coroutine or an async generator's asend."""

    def send(self, value: None, /) -> Any: ...

    def throw(self, exc: BaseException, /) -> Any: ...

    def close(self) -> None: ...


@types.coroutine
def _finish(step: _Step, waiting: Any) -> Generator[Any, None, bytes]:
    """Complete a step that suspended on `waiting`, as `await` would (PEP 380's `yield from`)."""
    pending = waiting
    while True:
        try:
            sent = yield pending
        except GeneratorExit:
            step.close()
            raise
        except BaseException as e:  # cancellation (the client left) goes to the source, as with await
            try:
                pending = step.throw(e)
            except StopIteration as stop:
                return stop.value  # type: ignore[no-any-return]
        else:
            try:
                pending = step.send(sent)
            except StopIteration as stop:
                return stop.value  # type: ignore[no-any-return]


def _unwind(step: _Step, err: BaseException) -> None:
    """A write failed while `step` waited: let the source fail there, as if its own wait had."""
    try:
        step.throw(err)
    except BaseException:  # the source ended, as it should; the caller raises `err`
        return
    step.close()


async def relay(frames: AsyncIterator[bytes], send: Send,
                before_end: Callable[[], Awaitable[None]] | None = None) -> None:
    """Send every frame of `frames` as HTTP body, batched per burst, then end the body.
    The frames of the last burst go out with the end of the body (one write). `before_end`, if
    given, runs once the source is exhausted and before that last write: the client cannot
    start its next request on this connection before it is done."""
    nxt = frames.__anext__
    batch: list[bytes] = []
    while True:
        step: _Step = nxt().__await__()
        try:
            waiting = step.send(None)
        except StopIteration as ready:  # a frame, produced without waiting
            if ready.value:
                batch.append(ready.value)
            continue
        except StopAsyncIteration:
            break
        if batch:  # the source must wait: what it produced so far leaves now
            body = batch[0] if len(batch) == 1 else b"".join(batch)
            batch = []
            try:
                await send({"type": "http.response.body", "body": body, "more_body": True})
            except BaseException as e:
                _unwind(step, e)
                raise
        try:
            frame = await _finish(step, waiting)
        except StopAsyncIteration:
            break
        if frame:
            batch.append(frame)
    if before_end is not None:
        await before_end()
    await send({"type": "http.response.body", "body": b"".join(batch)})
