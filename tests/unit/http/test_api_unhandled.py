"""A bug past admission still finalizes its request exactly once: the audit record, metrics and
access log see a 500, and the audit slot and limits are given back."""

from __future__ import annotations

import pytest

from bastion.core.context import Principal, RequestContext
from bastion.core.errors import AuthenticationError
from bastion.http.api import key_first
from bastion.http.types import HttpRequest, HttpResponse
from bastion.pipeline.runner import Pipeline

KEY = "bst_aaaaaaaaaaaa_" + "x" * 43


class Auth:
    async def authenticate(self, authorization: str | None, x_api_key: str | None,
                           client: str | None = None) -> Principal:
        if authorization != f"Bearer {KEY}":
            raise AuthenticationError("invalid API key")
        return Principal(key_id="aaaaaaaaaaaa", name="k", team=None)

    def presented_key_id(self, authorization: str | None, x_api_key: str | None) -> str | None:
        return None


class Observer:
    name = "rec"

    def __init__(self, holds: bool = False) -> None:
        self.holds_response = holds
        self.finished: list[tuple[int, str | None]] = []

    def admit(self, ctx: RequestContext) -> None:
        pass

    async def finish(self, ctx: RequestContext) -> None:
        self.finished.append((ctx.status, ctx.error_code))


def head() -> HttpRequest:
    return HttpRequest("POST", "/v1/chat/completions", {}, {"authorization": f"Bearer {KEY}"}, b"", None, "req_1")


@pytest.mark.parametrize("fails_after_settle", [False, True])
async def test_an_unhandled_error_still_records_the_request_once(fails_after_settle: bool) -> None:
    late, holding = Observer(), Observer(holds=True)
    p = Pipeline(Auth(), [], None, None, [holding, late])  # type: ignore[arg-type]

    async def serve(ctx: RequestContext, req: HttpRequest) -> HttpResponse:
        ctx.status = 200
        if fails_after_settle:
            await p.settle(ctx)  # as a handler that failed while encoding its answer
        raise TypeError("Integer exceeds 64-bit range")

    admitted = await key_first(p, serve, "openai").gate(head())
    assert not isinstance(admitted, HttpResponse)
    with pytest.raises(TypeError):  # the server answers 500 and logs it
        await admitted.serve(head())
    assert late.finished == [(500, "internal_error")]  # recorded, once, as what the client got
    assert len(holding.finished) == 1


async def test_finalizers_run_once_however_often_they_are_called() -> None:
    late, holding = Observer(), Observer(holds=True)
    p = Pipeline(Auth(), [], None, None, [holding, late])  # type: ignore[arg-type]
    ctx = RequestContext(request_id="r", ingress="openai")
    await p.settle(ctx)
    await p.finalize(ctx)
    await p.report(ctx)
    assert len(holding.finished) == 1 and len(late.finished) == 1


async def test_an_escaped_bastion_error_is_recorded_with_its_own_status() -> None:
    from bastion.core.errors import RateLimited

    late = Observer()
    p = Pipeline(Auth(), [], None, None, [late])  # type: ignore[arg-type]

    async def serve(ctx: RequestContext, req: HttpRequest) -> HttpResponse:
        raise RateLimited("slow down", retry_after=1.0)

    admitted = await key_first(p, serve, "openai").gate(head())
    assert not isinstance(admitted, HttpResponse)
    with pytest.raises(RateLimited):
        await admitted.serve(head())
    assert late.finished == [(429, "rate_limit_exceeded")]
