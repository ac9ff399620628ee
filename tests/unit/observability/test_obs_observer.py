"""The telemetry observer records metrics and the access line once per request and never raises."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from bastion.config.audit import ObservabilityConfig
from bastion.config.loader import parse_config
from bastion.core.context import RequestContext
from bastion.observability.logging import setup_logging
from bastion.observability.metrics import Metrics
from bastion.observability.observer import TelemetryObserver


@pytest.fixture
def logs() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    stream = io.StringIO()
    setup_logging(ObservabilityConfig(), stream=stream)
    yield stream
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])


async def test_finish_records_metrics_and_one_access_line(logs: io.StringIO) -> None:
    obs = TelemetryObserver.from_config(parse_config({}))
    ctx = RequestContext(request_id="r1", ingress="openai", status=401, error_code="invalid_api_key")
    obs.admit(ctx)
    await obs.finish(ctx)
    assert obs.metrics is not None and obs.metrics.refusals.get(("auth",)) == 1
    assert logs.getvalue().count('"request_id":"r1"') == 1


async def test_finish_never_raises(logs: io.StringIO, monkeypatch: pytest.MonkeyPatch) -> None:
    metrics = Metrics()

    def broken(ctx: RequestContext) -> None:
        raise RuntimeError("bug")

    monkeypatch.setattr(metrics, "observe_request", broken)
    obs = TelemetryObserver(metrics)
    await obs.finish(RequestContext(request_id="r2", ingress="openai"))
    assert "telemetry failed" in logs.getvalue()


def test_metrics_can_be_switched_off() -> None:
    assert TelemetryObserver.from_config(parse_config({"observability": {"metrics": False}})).metrics is None
