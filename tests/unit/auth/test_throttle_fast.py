"""FailureThrottle.check's early return when no failure is counted answers as its look-up does."""

from __future__ import annotations

import pytest

from bastion.auth.throttle import FailureThrottle
from bastion.core.errors import RateLimited


def test_check_with_no_failures_and_after_failures_elsewhere() -> None:
    now = [100.0]
    t = FailureThrottle(max_failures=2, window_seconds=10.0, clock=lambda: now[0])
    for client in ("10.0.0.1", "2001:db8::1", "::ffff:10.0.0.2"):
        t.check(client)  # nothing counted: the early return
    for _ in range(3):
        t.record_failure("2001:db8::5")  # the same /64 as 2001:db8::1
    t.check("10.0.0.1")  # counted elsewhere: the look-up finds nothing for it
    with pytest.raises(RateLimited):
        t.check("2001:db8::1")
    now[0] += 100.0
    t.check("2001:db8::1")  # expired: dropped by the look-up
    assert not t._tat
