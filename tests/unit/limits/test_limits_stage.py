"""The rate-limit stage: scopes (key, default, team, model), headers, 429 shape, finish."""

from __future__ import annotations

import asyncio

import pytest

from bastion.config.loader import parse_config
from bastion.config.schema import BastionConfig
from bastion.core.context import Attempt, ModelLimit, Principal, RequestContext
from bastion.core.errors import RateLimited
from bastion.core.types import ChatRequest, Message, TextPart, Usage
from bastion.limits.backend import LimitsBackend
from bastion.limits.memory import MemoryBackend
from bastion.limits.stage import RateLease, RateLimitStage

T0 = 1_800_000_000.0


def config(**limits: object) -> BastionConfig:
    return parse_config({
        "limits": {"default": {"rpm": 600, "tpm": 200_000, "max_parallel": 32}, **limits},
        "teams": {"payments": {"rpm": 3, "models": {"m": {"rpm": 2}}},
                  "big": {"tpm": 1000, "max_parallel": 1}},
    }, env={})


def ctx_for(p: Principal, rid: str = "r", model: str = "m") -> RequestContext:
    return RequestContext(request_id=rid, ingress="openai", model=model, principal=p)


def chat(text: str = "hello there", max_tokens: int | None = 100, model: str = "m") -> ChatRequest:
    return ChatRequest(model=model, messages=[Message("user", [TextPart(text)])], max_tokens=max_tokens)


def stage(cfg: BastionConfig, backend: LimitsBackend | None = None) -> RateLimitStage:
    return RateLimitStage(backend or MemoryBackend(clock=lambda: T0), cfg.limits, cfg.teams, {"m": ["x"]})


async def test_default_limits_apply_to_keys_without_their_own() -> None:
    st = stage(config())
    ctx = ctx_for(Principal("k1", "k1"))
    await st.check(ctx, chat())
    h = ctx.response_headers
    assert h["x-ratelimit-limit-requests"] == "600"
    assert h["x-ratelimit-remaining-requests"] == "599"
    assert h["x-ratelimit-reset-requests"] == "100ms"
    assert h["x-ratelimit-limit-tokens"] == "200000"
    assert int(h["x-ratelimit-remaining-tokens"]) == 200_000 - (3 + 4 + 100)  # 11 chars/4 + message + max_tokens
    assert isinstance(ctx.state["ratelimit"], RateLease)


async def test_key_limits_override_the_default_per_field() -> None:
    st = stage(config())
    p = Principal("k1", "k1", rpm=2)
    for i in range(2):
        await st.check(ctx_for(p, f"r{i}"), chat())
    ctx = ctx_for(p, "r3")
    with pytest.raises(RateLimited) as e:
        await st.check(ctx, chat())
    err = e.value
    assert err.status == 429 and err.code == "rate_limit_exceeded" and err.openai_type == "rate_limit_error"
    assert err.retry_after == 30.0
    assert "key 'k1'" in err.message and "2 requests per minute" in err.message
    assert err.headers["x-ratelimit-remaining-requests"] == "0"
    assert "ratelimit" not in ctx.state  # a refused request holds nothing to release


async def test_per_model_limit_inside_a_key_applies_only_to_that_model() -> None:
    st = stage(config())
    p = Principal("k1", "k1", model_limits=(("m", ModelLimit(rpm=1)),))
    await st.check(ctx_for(p, "a"), chat())
    with pytest.raises(RateLimited, match="model 'm'"):
        await st.check(ctx_for(p, "b"), chat())
    await st.check(ctx_for(p, "c", model="other"), chat(model="other"))


async def test_team_and_team_model_limits_are_shared_by_the_team_keys() -> None:
    st = stage(config())
    a, b = Principal("ka", "a", team="payments"), Principal("kb", "b", team="payments")
    await st.check(ctx_for(a, "1"), chat())
    await st.check(ctx_for(b, "2"), chat())
    with pytest.raises(RateLimited, match="team 'payments', model 'm'"):
        await st.check(ctx_for(a, "3"), chat())
    await st.check(ctx_for(b, "4", model="o"), chat(model="o"))
    with pytest.raises(RateLimited, match="team 'payments'"):
        await st.check(ctx_for(a, "5", model="o"), chat(model="o"))


async def test_request_larger_than_tpm_is_refused_without_retry() -> None:
    st = stage(config())
    with pytest.raises(RateLimited) as e:
        await st.check(ctx_for(Principal("k", "k", team="big")), chat(max_tokens=5000))
    assert e.value.headers["x-should-retry"] == "false"
    assert "Request too large" in e.value.message


async def test_finish_releases_the_concurrency_lease_once() -> None:
    st = stage(config())
    p = Principal("k", "k", team="big")
    ctx = ctx_for(p, "a")
    await st.check(ctx, chat(max_tokens=10))
    with pytest.raises(RateLimited, match="concurrent requests"):
        await st.check(ctx_for(p, "b"), chat(max_tokens=10))
    await st.finish(ctx)
    await st.finish(ctx)  # exactly once, even if called again
    await st.check(ctx_for(p, "c"), chat(max_tokens=10))
    with pytest.raises(RateLimited, match="concurrent requests"):
        await st.check(ctx_for(p, "d"), chat(max_tokens=10))


async def test_finish_corrects_tokens_with_reported_usage() -> None:
    backend = MemoryBackend(clock=lambda: T0)
    st = stage(config(), backend)
    p = Principal("k", "k", tpm=10_000)
    ctx = ctx_for(p)
    await st.check(ctx, chat(max_tokens=5000))
    ctx.usage = Usage(input_tokens=7, output_tokens=3)
    ctx.attempts.append(Attempt("p", "x", "ok"))
    await st.finish(ctx)
    ctx2 = ctx_for(p, "2")
    await st.check(ctx2, chat(max_tokens=1))
    assert int(ctx2.response_headers["x-ratelimit-remaining-tokens"]) == 10_000 - 10 - (3 + 4 + 1)


async def test_cut_stream_without_usage_counts_streamed_chars() -> None:
    st = stage(config())
    p = Principal("k", "k", tpm=10_000)
    ctx = ctx_for(p)
    await st.check(ctx, chat(max_tokens=5000))
    ctx.streamed_chars, ctx.client_disconnected = 400, True
    await st.finish(ctx)
    ctx2 = ctx_for(p, "2")
    await st.check(ctx2, chat(max_tokens=1))
    assert int(ctx2.response_headers["x-ratelimit-remaining-tokens"]) == 10_000 - (7 + 100) - 8


async def test_200_concurrent_requests_on_rpm_50_admit_exactly_50(backend: LimitsBackend) -> None:
    cfg = config()
    st = RateLimitStage(backend, cfg.limits, cfg.teams, {"m": ["x"]}, clock=lambda: T0)
    p = Principal("k", "k", rpm=50, max_parallel=1000)

    async def one(i: int) -> bool:
        try:
            await st.check(ctx_for(p, f"r{i}"), chat())
            return True
        except RateLimited:
            return False

    assert sum(await asyncio.gather(*(one(i) for i in range(200)))) == 50


async def test_models_listing_is_not_limited() -> None:
    st = stage(config())
    ctx = RequestContext(request_id="r", ingress="openai", operation="models", principal=Principal("k", "k", rpm=0))
    await st.check(ctx, chat())
    assert ctx.response_headers == {}


@pytest.mark.parametrize("limits", [{"rpm": 0}, {"max_parallel": 0}])
async def test_a_limit_of_zero_is_a_clear_429_that_says_not_to_retry(backend: LimitsBackend,
                                                                    limits: dict[str, int]) -> None:
    """A key limited to 0 is blocked (it was a 500: an infinite wait cannot be a header)."""
    cfg = config()
    st = RateLimitStage(backend, cfg.limits, cfg.teams, {"m": ["x"]}, clock=lambda: T0)
    with pytest.raises(RateLimited) as e:
        await st.check(ctx_for(Principal("k0", "k0", **limits)), chat())  # type: ignore[arg-type]
    assert e.value.headers["x-should-retry"] == "false"
    assert e.value.retry_after == 60.0
    assert "its limit is 0" in e.value.message


async def test_a_default_rpm_of_zero_refuses_with_429() -> None:
    st = stage(config(default={"rpm": 0}))
    with pytest.raises(RateLimited) as e:
        await st.check(ctx_for(Principal("k1", "k1")), chat())
    assert e.value.headers["x-should-retry"] == "false"


def test_an_endless_wait_still_formats_as_a_header() -> None:
    from bastion.limits.bucket import format_reset

    assert format_reset(float("inf")) == "24h0m0s"
