"""Writes a `Plan` to the socket, applying the reply's timing and faults (stall, drop, error)."""

from __future__ import annotations

import asyncio
import contextlib

from aiohttp import web

from tests.fakes.plan import Plan
from tests.fakes.recording import RecordedRequest, Recorder
from tests.fakes.reply import Reply


class Delivery:
    """One answer in flight; `abort()` ends it from the server's loop (stop / reset)."""

    def __init__(self, request: web.Request, record: RecordedRequest, recorder: Recorder) -> None:
        self.request = request
        self.record = record
        self.recorder = recorder
        self._aborted = asyncio.Event()

    @property
    def aborted(self) -> bool:
        return self._aborted.is_set()

    def abort(self) -> None:
        """Close the connection now; the outcome becomes `aborted`, never a client disconnect."""
        self.recorder.finish(self.record, "aborted")
        self._aborted.set()
        self._close_transport()

    def _close_transport(self) -> None:
        transport = self.request.transport
        if transport is not None and not transport.is_closing():
            transport.abort()

    async def _sleep(self, seconds: float) -> None:
        """Sleep, cut short by `abort()`."""
        if seconds > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._aborted.wait(), seconds)

    async def _drop(self) -> None:
        """Close the TCP connection abruptly, after the bytes already written reach the kernel."""
        transport = self.request.transport
        for _ in range(200):
            if transport is None or transport.get_write_buffer_size() == 0:
                break
            await asyncio.sleep(0.005)
        self.recorder.finish(self.record, "dropped")
        self._close_transport()

    async def run(self, reply: Reply, plan: Plan) -> web.StreamResponse:
        """Send headers and frames; returns the (possibly unfinished) response for aiohttp."""
        await self._sleep(reply.delay_before_headers)
        response = web.StreamResponse(status=plan.status, headers=plan.headers)
        if self.aborted:
            return response
        if reply.drop_before_headers:
            await self._drop()
            return response
        if not plan.streamed:
            response.content_length = sum(len(f.data) for f in plan.frames)
        await response.prepare(self.request)

        # Outcomes and counts are recorded *before* the write that shows them to the client, so
        # a test that saw the end of a response also sees its outcome.
        fault = _fault(reply)
        cut = plan.cut_index(fault[1]) if fault else -1
        last = len(plan.frames) - 1
        for i, frame in enumerate([*plan.frames, None]):
            if i == cut and fault is not None:
                await self._fault(fault[0], reply, plan, response)
                return response
            if frame is None or self.aborted:
                break
            if frame.counted and self.record.chunks_sent > 0:
                await self._sleep(reply.delay_between_chunks)
                if self.aborted:
                    return response
            if frame.counted:
                self.record.chunks_sent += 1
            if i == last and cut != len(plan.frames):
                self.recorder.finish(self.record, "completed")
            await response.write(frame.data)
        if not self.aborted:
            self.recorder.finish(self.record, "completed")
            await response.write_eof()
        return response

    async def _fault(self, kind: str, reply: Reply, plan: Plan, response: web.StreamResponse) -> None:
        if kind == "drop":
            await self._drop()
        elif kind == "stall":
            await self._sleep(reply.stall_max)
            if not self.aborted:
                self.recorder.finish(self.record, "stall_timeout")
                self._close_transport()
        else:
            self.recorder.finish(self.record, "error_event")
            if plan.error_frame is not None:
                await response.write(plan.error_frame)
            await response.write_eof()


def _fault(reply: Reply) -> tuple[str, int] | None:
    """The one scripted fault (Reply allows at most one), as (kind, after_chunks)."""
    if reply.stall_after_chunks is not None:
        return "stall", reply.stall_after_chunks
    if reply.drop_after_chunks is not None:
        return "drop", reply.drop_after_chunks
    if reply.error_after_chunks is not None:
        return "error", reply.error_after_chunks
    return None
