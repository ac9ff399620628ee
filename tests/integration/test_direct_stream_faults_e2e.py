"""The stream faults of test_faults_e2e.py again, on a gateway whose policy is off (streams take the
direct path: pipeline/runner.py `DirectStream`): stalls, resets, missing end markers, malformed
events, oversized streams and a client gone mid-stream end the same way and leave nothing behind."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.upstream import FakeUpstream
from tests.integration.inprocess import InProcessGateway
from tests.integration.test_faults_e2e import (  # noqa: F401  (fixtures and tests collected again here)
    an,
    baseline,
    fault_config,
    garbage_port,
    key,
    no_leaks,
    oa,
    test_anthropic_stream_without_message_stop_ends_with_an_error_event,
    test_client_gone_mid_stream_releases_everything,
    test_huge_stream_is_cut_with_an_error_event,
    test_least_busy_strategy_avoids_the_target_with_a_stream_open,
    test_malformed_sse_after_content_ends_with_an_error_event,
    test_many_concurrent_faults_leave_nothing_behind,
    test_openai_stream_without_done_ends_with_an_error_event,
    test_stream_reset_after_content_never_falls_back,
    test_stream_stalling_after_content_ends_with_an_error_event,
)


@pytest.fixture(scope="module")
def gw(fake_upstream_server: FakeUpstream, module_tmp: Path, garbage_port: int) -> Iterator[InProcessGateway]:  # noqa: F811
    cfg = fault_config(fake_upstream_server, module_tmp, garbage_port)
    cfg["policies"] = {"default": {}}
    with InProcessGateway(cfg) as g:
        yield g
