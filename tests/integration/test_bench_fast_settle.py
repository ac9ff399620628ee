"""The bench's full profile (bench/profiles.py `full`, as bench/icount.py and bench_gateway_overhead.py run it)
settles and reports its requests by the plain-call paths: `Pipeline.settle_now` and `Pipeline.report_now` (the
response's after-work) do the work, and `Pipeline.settle` and `Pipeline.report`, the coroutines, are never awaited.
A stage or observer that starts to await in them (or a handler that stops asking `settle_now` first, or gives
`report` as the after-work) would silently put a coroutine and its frames back on every request; this says so."""

from __future__ import annotations

import json
import sys
from collections.abc import Awaitable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bastion.app import create_app
from bastion.config.schema import BastionConfig
from bastion.core.context import RequestContext
from bastion.pipeline.runner import Pipeline

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.fixture(scope="module")
def bench() -> Iterator[Any]:
    sys.path.insert(0, str(BENCH))
    try:
        import bench_gateway_overhead

        yield bench_gateway_overhead
    finally:
        sys.path.remove(str(BENCH))


@pytest.mark.parametrize("stream", [False, True], ids=["non-streamed", "streamed"])
async def test_full_profile_settles_and_reports_by_the_plain_calls(bench: Any, tmp_path: Path, stream: bool,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    profiles, upstream = bench.profiles, sys.modules["upstream"]
    cfg, _ = profiles.fit("full", "http://127.0.0.1:9", tmp_path / "bastion.db")
    app = create_app(BastionConfig.model_validate(cfg))
    gw = app.gateway  # type: ignore[attr-defined]

    async def post(ep: object, path: str, body: bytes, extra: object = None) -> tuple[int, dict[str, str], bytes]:
        return 200, {"content-type": "application/json"}, upstream.openai_json()

    gw.transport.post = post
    gw.transport.post_stream = bench._post_stream
    monkeypatch.setattr(bench._StreamedAnswer, "events", upstream.openai_events(upstream.WORDS))
    await gw.startup()
    try:
        admin = [(b"authorization", b"Bearer " + profiles.ADMIN_KEY.encode()), (b"content-type", b"application/json")]
        status, body = await bench._call(app, "POST", "/admin/keys",
                                         json.dumps({"name": "bench", **profiles.FULL_KEY_FIELDS}).encode(), admin)
        assert status == 201, body
        headers = [(b"authorization", b"Bearer " + json.loads(body)["key"].encode()),
                   (b"content-type", b"application/json")]
        assert gw.pipeline.settles_now and gw.pipeline.reports_now

        now: list[bool] = []
        awaited: list[str] = []
        settle_now, settle = Pipeline.settle_now, Pipeline.settle

        def spy_now(self: Pipeline, ctx: RequestContext) -> bool:
            done = settle_now(self, ctx)
            now.append(done)
            return done

        async def spy_settle(self: Pipeline, ctx: RequestContext) -> None:
            awaited.append(ctx.request_id)
            await settle(self, ctx)

        reported: list[object] = []
        report_now, report = Pipeline.report_now, Pipeline.report

        def spy_report_now(self: Pipeline, ctx: RequestContext) -> Awaitable[None] | None:
            pending = report_now(self, ctx)
            reported.append(pending)
            return pending

        async def spy_report(self: Pipeline, ctx: RequestContext) -> None:
            awaited.append("report " + ctx.request_id)
            await report(self, ctx)

        monkeypatch.setattr(Pipeline, "settle_now", spy_now)
        monkeypatch.setattr(Pipeline, "settle", spy_settle)
        monkeypatch.setattr(Pipeline, "report_now", spy_report_now)
        monkeypatch.setattr(Pipeline, "report", spy_report)
        request = {"model": "gpt-4o-mini", "max_tokens": 256, "stream": stream,
                   "messages": [{"role": "user", "content": "Ticket bench-1: " + sys.modules["bodies"].prompt(200)}]}
        status, out = await bench._call(app, "POST", "/v1/chat/completions", json.dumps(request).encode(), headers)
        assert status == 200, out[:300]
        assert not stream or out.endswith(b"data: [DONE]\n\n")
        assert now and all(now), now  # settled by the plain call, every time it was asked
        assert reported == [None]  # reported by the plain call (None: nothing to await), once
        assert awaited == []  # and the coroutines never ran
    finally:
        await gw.shutdown()
