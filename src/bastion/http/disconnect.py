"""The client's connection lost while its response is under way, told to the app by the server.

An ASGI app learns of a lost client from `receive()` returning `http.disconnect`, so a streaming
response needs a task waiting on `receive()` for as long as it streams: one task per stream,
started and cancelled. Bastion's own server protocol (`http/protocol.py`) instead puts a
`Disconnect` in `scope["extensions"]` and fires it from `connection_lost`; the app registers a
callback on it. Under another server the extension is absent and the app waits on `receive()`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

EXTENSION = "bastion.disconnect"


class Disconnect:
    """Fired once, when the connection of a request whose response has not completed is lost.
    `loop`: the loop the request is served on (`asyncio.current_task(loop)` finds its task without
    `get_running_loop()`, a getpid() system call on Python 3.11)."""

    __slots__ = ("callback", "loop", "lost")

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.callback: Callable[[], None] | None = None
        self.lost = False
        self.loop = loop

    def fire(self) -> None:
        self.lost = True
        callback, self.callback = self.callback, None
        if callback is not None:
            callback()
