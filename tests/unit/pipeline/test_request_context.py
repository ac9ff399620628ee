"""RequestContext's written-out __init__ is the one the dataclass would generate."""

from __future__ import annotations

import dataclasses
import inspect
import time

from bastion.core.context import Attempt, RequestContext


def test_init_takes_every_field_in_order_with_its_default() -> None:
    params = list(inspect.signature(RequestContext.__init__).parameters.values())[1:]
    fields = dataclasses.fields(RequestContext)
    assert [p.name for p in params] == [f.name for f in fields]
    for p, f in zip(params, fields, strict=True):
        if f.default is not dataclasses.MISSING:
            assert p.default == f.default, f.name
        elif f.default_factory is not dataclasses.MISSING:
            assert p.default is None, f.name  # None: a fresh one from the factory
        else:
            assert p.default is inspect.Parameter.empty, f.name


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
