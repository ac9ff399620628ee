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
RuleKey = tuple[str, int]  # a rule's (direction, index) in its policy
Results = dict[RuleKey, Cached]  # one text's kept results, by rule (never changed once kept: replaced)
CacheKey = tuple[str | None, str, int, bytes, bool]  # (scope, policy, len, digest, read as JSON text)
_BLAKE2B_128 = hashlib.blake2b(digest_size=16)  # never updated: copied per digest (without the C accelerator)
_KEY = os.urandom(16)  # the digest's key (with the C accelerator): this process's own, never shown
_keyed: Callable[[bytes, str], bytes] | None
try:
    from bastion import _native

    _keyed = _native.keyed_digest
except ImportError:  # the package works without its C accelerator
    _keyed = None


class ScanCache:
    """Matches of (scope, policy, exact text) per rule (direction, index) — the text is held only as
    a 128-bit digest (`digest`); entries keep types, normalised-text offsets and scores, never a
    matched value. One entry per text holds its rules' results (one look-up and one store per text,
    not per rule: ~3.3k and ~6.4k instructions each); the bound counts rule results, as many as
    `capacity`, the least recently used text evicted first. Thread-safe. A scanner's findings are a
    pure function of its configuration and the text, so a hit stands for the scan (the engine
    re-derives spans and placeholders per request)."""

    __slots__ = ("_entries", "_lock", "_size", "capacity", "hits", "min_chars", "misses")

    def __init__(self, capacity: int = DEFAULT_ENTRIES, min_chars: int = MIN_CHARS) -> None:
        if capacity <= 0:
            raise ValueError("capacity must be positive (no cache: do not build one)")
        self.capacity = capacity
        self.min_chars = min_chars
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[CacheKey, Results] = OrderedDict()
        self._size = 0  # rule results held (the entries' lengths)
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

    def get(self, key: CacheKey) -> Results | None:
        """The text's kept results by rule (not to be changed: `put` a new mapping), or None."""
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

    def put(self, key: CacheKey, results: Results) -> None:
        """Keep a text's results by rule (`kept` values), replacing what was kept for it; the text becomes the
        most recent."""
        lock = self._lock
        lock.acquire()
        try:
            entries = self._entries
            n = len(entries)
            old = entries.setdefault(key, results)
            if len(entries) == n:  # the key was there: replaced, and now the most recent (a new key is put last)
                entries[key] = results
                entries.move_to_end(key)
                self._size += len(results) - len(old)
            else:
                self._size += len(results)
            while self._size > self.capacity:
                self._size -= len(entries.popitem(last=False)[1])
        finally:
            lock.release()

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._size = 0

    def __len__(self) -> int:
        """Rule results held (one per rule and text)."""
        return self._size


def kept(matches: list[Match]) -> Cached | None:
    """A successful scan's matches as kept (copied to plain tuples: nothing else of the object); None for more
    than MAX_MATCHES (not kept: bounds an entry's size)."""
    if not matches:
        return ()  # most texts have no finding: no list built for them
    if len(matches) > MAX_MATCHES:
        return None
    return tuple([(str(m.type), int(m.start), int(m.end), float(m.score)) for m in matches])
