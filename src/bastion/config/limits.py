"""Config schema of rate limits, teams, budgets and pricing (owned by issue 4)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RateLimitConfig(_Strict):
    rpm: int | None = Field(default=None, ge=0, description="Requests per minute.")
    tpm: int | None = Field(default=None, ge=0, description="Tokens per minute (prompt + output).")
    max_parallel: int | None = Field(default=None, ge=0, description="Concurrent requests in flight.")


class BudgetConfig(_Strict):
    usd: float = Field(ge=0, description="Spending cap in USD (stored as integer micro-USD).")
    period: Literal["day", "week", "month", "total"] = Field("month", description="Calendar period, UTC.")


class TeamConfig(_Strict):
    rpm: int | None = Field(default=None, ge=0, description="Requests per minute, shared by the team's keys.")
    tpm: int | None = Field(default=None, ge=0, description="Tokens per minute, shared by the team's keys.")
    max_parallel: int | None = Field(default=None, ge=0, description="Concurrent requests of the team's keys.")
    budgets: list[BudgetConfig] = Field(default_factory=list, description="Spending caps shared by the team.")
    policy: str | None = Field(default=None, description="Policy for the team's keys that name none.")
    models: dict[str, RateLimitConfig] = Field(default_factory=dict, description="Per-model limits.")


class LimitsConfig(_Strict):
    backend: Literal["memory", "redis"] = Field("memory", description="Where counters live.")
    redis_url: str = Field("redis://127.0.0.1:6379/0", description="Redis URL for backend: redis.")
    on_backend_error: Literal["block", "allow"] = Field("block", description="Fail closed when Redis is down.")
    default: RateLimitConfig = Field(default_factory=RateLimitConfig, description="Per-key defaults.")
    default_max_output_tokens: int = Field(
        4096, gt=0,
        description="Output estimate when a request sets no max_tokens. A request that a budget applies to is "
                    "also sent upstream with it as max_tokens, so the provider cannot generate more than was "
                    "reserved.")
    redis_timeout_seconds: float = Field(
        1.0, gt=0, le=10,
        description="Connect and socket timeout for Redis; a request never waits longer on the limits backend.")
    redis_key_prefix: str = Field("bastion:", min_length=1,
                                  description="Prefix of every Redis key (lets several gateways share one Redis).")
    lease_ttl_seconds: float = Field(
        60.0, ge=1, le=86_400,
        description="How long a concurrency lease or budget reservation outlives a replica that crashed "
                    "before releasing it (Redis backend); a live replica renews what it holds every quarter "
                    "of this, so requests may run longer.")
    usage_flush_seconds: float = Field(1.0, gt=0, le=60,
                                       description="How often batched usage records are written to the store.")


class PriceOverride(_Strict):
    """A price in USD per million tokens; converted once to integer pico-USD per token."""

    input_per_mtok: float = Field(ge=0, description="USD per million input tokens.")
    output_per_mtok: float = Field(ge=0, description="USD per million output tokens.")
    cached_input_per_mtok: float | None = Field(default=None, ge=0, description="Cache reads; default: the input price.")
    cache_write_per_mtok: float | None = Field(default=None, ge=0, description="Cache writes; default: the input price.")
    cache_write_1h_per_mtok: float | None = Field(
        default=None, ge=0, description="Anthropic's 1-hour cache writes; default: the cache write price.")
    reasoning_per_mtok: float | None = Field(
        None, ge=0, description="Set only where reasoning tokens are billed apart from output tokens; "
                                "OpenAI and Anthropic bill them as output (this stays unset).")
