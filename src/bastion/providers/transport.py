"""The one upstream HTTP transport: pooled aiohttp sessions, timeouts, SSE framing, credential
injection, and mapping of transport exceptions into Bastion errors."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass

import aiohttp
import orjson

from bastion.core.errors import BastionError, UpstreamError, UpstreamTimeout, UpstreamUnavailable
from bastion.providers.sse import SSEError, SSEParser

MAX_RESPONSE_BYTES = 64 * 1024 * 1024
# Client headers are never forwarded; these are the only ones Bastion sends besides credentials.
_BASE_HEADERS = {"content-type": "application/json", "user-agent": "bastion-gateway/0.1"}


@dataclass(slots=True, frozen=True)
class Endpoint:
    """A resolved provider: where to send, with which credential headers, and its timeouts."""

    name: str
    base_url: str
    auth_headers: Mapping[str, str]
    connect_timeout: float
    first_byte_timeout: float
    idle_timeout: float
    total_timeout: float
    max_connections: int


def credential_headers(static: Mapping[str, str], auth: Mapping[str, str]) -> dict[str, str]:
    """Merge configured static headers with the credential headers (credentials win)."""
    merged = dict(_BASE_HEADERS)
    merged.update({k.lower(): v for k, v in static.items()})
    merged.update(auth)
    return merged


class UpstreamStream:
    """An open streamed upstream response; iterate `events()`; always `close()`."""

    def __init__(self, resp: aiohttp.ClientResponse, idle_timeout: float) -> None:
        self._resp = resp
        self._idle = idle_timeout

    async def events(self) -> AsyncIterator[tuple[str | None, bytes]]:
        parser = SSEParser()
        content = self._resp.content
        try:
            while True:
                try:
                    async with asyncio.timeout(self._idle):
                        chunk = await content.readany()
                except TimeoutError:
                    raise UpstreamTimeout(f"upstream stream stalled for more than {self._idle:g}s",
                                          retryable=True) from None
                if not chunk:
                    for ev in parser.flush():
                        yield ev
                    return
                for ev in parser.feed(chunk):
                    yield ev
        except (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError) as e:
            raise UpstreamError(f"upstream connection broke mid-stream ({type(e).__name__})",
                                retryable=True) from None
        except SSEError as e:
            raise UpstreamError(str(e)) from None

    def close(self) -> None:
        self._resp.close()


class Transport:
    """Owns one pooled ClientSession per provider (keep-alive, bounded pool)."""

    def __init__(self) -> None:
        self._sessions: dict[str, aiohttp.ClientSession] = {}

    def _session(self, ep: Endpoint) -> aiohttp.ClientSession:
        s = self._sessions.get(ep.name)
        if s is None or s.closed:
            connector = aiohttp.TCPConnector(limit=ep.max_connections, keepalive_timeout=30,
                                             enable_cleanup_closed=True, ttl_dns_cache=300)
            s = aiohttp.ClientSession(
                connector=connector, json_serialize=lambda o: orjson.dumps(o).decode(),
                timeout=aiohttp.ClientTimeout(total=None, connect=ep.connect_timeout,
                                              sock_connect=ep.connect_timeout),
                auto_decompress=True, skip_auto_headers=("User-Agent",))
            self._sessions[ep.name] = s
        return s

    async def _open(self, ep: Endpoint, path: str, body: bytes) -> aiohttp.ClientResponse:
        session = self._session(ep)
        try:
            async with asyncio.timeout(ep.first_byte_timeout + ep.connect_timeout):
                return await session.post(ep.base_url + path, data=body, headers=dict(ep.auth_headers),
                                          allow_redirects=False)
        except TimeoutError:
            raise UpstreamTimeout(f"provider {ep.name} did not answer within "
                                  f"{ep.first_byte_timeout:g}s", retryable=True) from None
        except aiohttp.ClientConnectorError as e:
            raise UpstreamUnavailable(f"cannot connect to provider {ep.name} ({type(e).__name__})",
                                      retryable=True) from None
        except (aiohttp.ClientError, OSError) as e:
            raise UpstreamError(f"provider {ep.name} connection failed ({type(e).__name__})",
                                retryable=True) from None

    async def _read_body(self, ep: Endpoint, resp: aiohttp.ClientResponse) -> bytes:
        try:
            async with asyncio.timeout(ep.total_timeout):
                chunks: list[bytes] = []
                size = 0
                while True:
                    try:
                        async with asyncio.timeout(ep.idle_timeout):
                            chunk = await resp.content.readany()
                    except TimeoutError:
                        raise UpstreamTimeout(f"provider {ep.name} stalled while sending its response",
                                              retryable=True) from None
                    if not chunk:
                        break
                    size += len(chunk)
                    if size > MAX_RESPONSE_BYTES:
                        raise UpstreamError(f"provider {ep.name} response exceeds {MAX_RESPONSE_BYTES} bytes")
                    chunks.append(chunk)
                return b"".join(chunks)
        except TimeoutError:
            raise UpstreamTimeout(f"provider {ep.name} took longer than {ep.total_timeout:g}s",
                                  retryable=True) from None
        except (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError) as e:
            raise UpstreamError(f"provider {ep.name} connection broke ({type(e).__name__})",
                                retryable=True) from None

    async def post(self, ep: Endpoint, path: str, body: bytes) -> tuple[int, Mapping[str, str], bytes]:
        """A non-streamed call: (status, headers, body)."""
        resp = await self._open(ep, path, body)
        try:
            data = await self._read_body(ep, resp)
            return resp.status, resp.headers, data
        finally:
            resp.release()

    async def post_stream(self, ep: Endpoint, path: str,
                          body: bytes) -> tuple[int, Mapping[str, str], UpstreamStream | bytes]:
        """A streamed call: on 2xx an open UpstreamStream, else the error body."""
        resp = await self._open(ep, path, body)
        if resp.status >= 300:
            try:
                data = await self._read_body(ep, resp)
            finally:
                resp.release()
            return resp.status, resp.headers, data
        ctype = resp.headers.get("content-type", "")
        if "text/event-stream" not in ctype:
            try:
                data = await self._read_body(ep, resp)
            finally:
                resp.release()
            raise UpstreamError(f"provider {ep.name} answered a stream request with {ctype or 'no content type'}",
                                retryable=False)
        return resp.status, resp.headers, UpstreamStream(resp, ep.idle_timeout)

    async def close(self) -> None:
        for s in self._sessions.values():
            await s.close()
        self._sessions.clear()


def retry_after_seconds(headers: Mapping[str, str], err: BastionError) -> float | None:
    """The provider's Retry-After (seconds form), if it sent one."""
    v = headers.get("retry-after") or headers.get("Retry-After")
    if v:
        try:
            return max(0.0, float(v))
        except ValueError:
            return None
    return err.retry_after
