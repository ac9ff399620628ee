"""Anthropic `cache_control` (prompt-cache breakpoints) ⇄ canonical CacheHint, strictly validated.

Accepted where the Messages API accepts it: text, image, tool_use and tool_result blocks (text
and image blocks inside a tool_result too), system text blocks, custom tool definitions, and the
top level of the request (automatic caching: Anthropic puts it on the last cacheable block, and
it takes one of the 4 breakpoint slots).
Only the documented shape passes: `{"type": "ephemeral"}` with an optional `"ttl": "5m" | "1h"`;
`null` means no breakpoint. Anything else is refused with its path: the object carries no text,
and strict validation keeps it that way.
"""

from __future__ import annotations

from typing import get_args

from bastion.core.errors import InvalidRequest
from bastion.core.types import CacheHint, CacheTTL, JSONObject
from bastion.providers.anthropic.fields import obj, only_keys, required, string

MAX_BREAKPOINTS = 4  # the Messages API refuses a request with more blocks carrying cache_control
_TTLS: tuple[CacheTTL, ...] = get_args(CacheTTL)


class Breakpoints:
    """Reads the cache breakpoints of one client request and remembers where they were, so that
    more than MAX_BREAKPOINTS is refused here, naming the first one over, whatever the route."""

    __slots__ = ("paths",)

    def __init__(self) -> None:
        self.paths: list[str] = []

    def read(self, block: JSONObject, path: str) -> CacheHint | None:
        """The hint of `block.cache_control`, or None when absent or null."""
        raw = block.get("cache_control")
        if raw is None:
            return None
        cpath = f"{path}.cache_control" if path else "cache_control"
        cc = obj(raw, cpath)
        only_keys(cc, ("type", "ttl"), cpath, "cache_control")
        ctype = string(required(cc, "type", cpath), f"{cpath}.type")
        if ctype != "ephemeral":
            raise InvalidRequest(f"{cpath}.type: must be 'ephemeral'", param=f"{cpath}.type")
        hint = CacheHint()
        if "ttl" in cc:
            ttl = string(cc["ttl"], f"{cpath}.ttl")
            if ttl not in _TTLS:
                raise InvalidRequest(f"{cpath}.ttl: must be '5m' or '1h'", param=f"{cpath}.ttl")
            hint = CacheHint(ttl="5m" if ttl == "5m" else "1h")
        self.paths.append(cpath)
        return hint

    def check(self) -> None:
        """Refuses more than MAX_BREAKPOINTS, naming the first one over in prompt order
        (tools, then system, then messages; the decoder reads them in another order)."""
        if len(self.paths) > MAX_BREAKPOINTS:
            ordered = sorted(self.paths, key=lambda p: (not p.startswith("tools"), not p.startswith("system")))
            over = ordered[MAX_BREAKPOINTS]
            raise InvalidRequest(f"{over}: a request may carry at most {MAX_BREAKPOINTS} cache_control "
                                 f"breakpoints, found {len(self.paths)}", param=over)


def cache_control(hint: CacheHint) -> JSONObject:
    """The wire form of a hint; `ttl` only when the client gave one."""
    out: JSONObject = {"type": "ephemeral"}
    if hint.ttl is not None:
        out["ttl"] = hint.ttl
    return out


def mark(block: JSONObject, hint: CacheHint | None) -> JSONObject:
    """`block` with its cache_control set when `hint` is given (in place; returned for chaining)."""
    if hint is not None:
        block["cache_control"] = cache_control(hint)
    return block
