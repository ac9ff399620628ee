"""RequestContext's written-out __init__ is the one the dataclass would generate (its signature:
test_written_out_inits.py)."""

from __future__ import annotations

import dataclasses
import time

from bastion.core.context import Attempt, RequestContext


def test_defaults_are_fresh_containers_and_the_clocks_now() -> None:
    before = (time.perf_counter(), time.time())
    a, b = RequestContext("r1", "openai"), RequestContext("r2", "openai")
    after = (time.perf_counter(), time.time())
    for name in ("attempts", "findings", "state", "response_headers"):
        assert getattr(a, name) == type(getattr(a, name))() and getattr(a, name) is not getattr(b, name)
    assert before[0] <= a.started <= after[0] and before[1] <= a.wall_time <= after[1]
    assert (a.operation, a.client_addr, a.stream, a.status, a.upstream_ms) == ("chat", None, False, 0, 0.0)
    mine = [Attempt("p", "m", "ok")]
    c = RequestContext("r3", "anthropic", "embeddings", "10.0.0.1", started=1.5, wall_time=2.5, attempts=mine,
                       state={"k": 1}, status=200)
    assert c.attempts is mine and (c.started, c.wall_time, c.state, c.status) == (1.5, 2.5, {"k": 1}, 200)
    assert c == dataclasses.replace(c) and repr(c).startswith("RequestContext(request_id='r3'")
