"""A bounded LRU cache of input scan results: a rule's matches on one exact text, never the text itself."""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from collections.abc import Callable

from bastion.policy.scanner import Match

DEFAULT_ENTRIES = 4096
MAX_ENTRIES = 65536
MIN_CHARS = 200  # shorter texts are cheaper to scan than to look up, for cheap scanners (rules.CHEAP)
MAX_MATCHES = 64  # a result with more matches is not kept (bounds an entry's size)

Cached = tuple[tuple[str, int, int, float], ...]  # (type, start, end, score) in the normalised text
CacheKey = tuple[str | None, str, str, int, int, bytes, bool]  # (..., len, digest, read as JSON text)
_BLAKE2B_128 = hashlib.blake2b(digest_size=16)  # never updated: copied per digest (without the C accelerator)
_KEY = os.urandom(16)  # the digest's key (with the C accelerator): this process's own, never shown
_keyed: Callable[[bytes, str], bytes] | None
try:
    from bastion import _native

    _keyed = _native.keyed_digest
except ImportError:  # the package works without its C accelerator
    _keyed = None


class ScanCache:
    """Matches of (scope, policy, direction, rule index, exact text) — the text is held only as
    a 128-bit digest (`digest`); entries keep types, normalised-text offsets and scores, never a
    matched value. Bounded to `capacity` entries, least recently used evicted first.
    Thread-safe. A scanner's findings are a pure function of its configuration and the text,
    so a hit stands for the scan (the engine re-derives spans and placeholders per request)."""

    __slots__ = ("_entries", "_lock", "capacity", "hits", "min_chars", "misses")

    def __init__(self, capacity: int = DEFAULT_ENTRIES, min_chars: int = MIN_CHARS) -> None:
        if capacity <= 0:
            raise ValueError("capacity must be positive (no cache: do not build one)")
        self.capacity = capacity
        self.min_chars = min_chars
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[CacheKey, Cached] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def digest(text: str) -> bytes:
        """The text's 128-bit digest (lone surrogates, possible from JSON, included): with the C accelerator
        SipHash-2-4-128 of its characters under a random key of this process's (`_native_digest.c`: a keyed
        pseudo-random function, so nobody who lacks the key can make two texts share an entry; ~4 instructions
        a byte read as held, against ~16 for BLAKE2b of the UTF-8 encoding), else its BLAKE2b digest."""
        if _keyed is not None:
            return _keyed(_KEY, text)
        h = _BLAKE2B_128.copy()  # a copy costs ~1.2k instructions less than a keyword-configured new object
        h.update(text.encode("utf-8", "surrogatepass"))
        return h.digest()

    # get and put take the lock by acquire and release, not `with`: in Python 3.11 a `with` block on a lock costs
    # ~2,000 instructions, the pair in try/finally ~900 (the same exclusion; up to seven times a request)

    def get(self, key: CacheKey) -> Cached | None:
        lock = self._lock
        lock.acquire()
        try:
            found = self._entries.get(key)
            if found is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return found
        finally:
            lock.release()

    def put(self, key: CacheKey, matches: list[Match]) -> None:
        """Keep a successful scan's matches (copied to plain tuples: nothing else of the object)."""
        if len(matches) > MAX_MATCHES:
            return
        value: Cached = tuple([(str(m.type), int(m.start), int(m.end), float(m.score)) for m in matches]) \
            if matches else ()  # most texts have no finding: no list built for them
        lock = self._lock
        lock.acquire()
        try:
            entries = self._entries
            n = len(entries)
            entries[key] = value
            if len(entries) == n:  # the key was there: now the most recent (a new key is put last)
                entries.move_to_end(key)
            while len(entries) > self.capacity:
                entries.popitem(last=False)
        finally:
            lock.release()

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
