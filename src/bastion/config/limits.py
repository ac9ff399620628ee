"""Config schema of rate limits, teams, budgets and pricing (owned by issue 4)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RateLimitConfig(_Strict):
    rpm: int | None = Field(None, ge=0, description="Requests per minute.")
    tpm: int | None = Field(None, ge=0, description="Tokens per minute (prompt + output).")
    max_parallel: int | None = Field(None, ge=0, description="Concurrent requests in flight.")


class BudgetConfig(_Strict):
    usd: float = Field(ge=0, description="Spending cap in USD (stored as integer micro-USD).")
    period: Literal["day", "week", "month", "total"] = Field("month", description="Calendar period, UTC.")


class TeamConfig(_Strict):
    rpm: int | None = Field(None, ge=0)
    tpm: int | None = Field(None, ge=0)
    max_parallel: int | None = Field(None, ge=0)
    budgets: list[BudgetConfig] = Field(default_factory=list)
    policy: str | None = Field(None, description="Policy for the team's keys that name none.")
    models: dict[str, RateLimitConfig] = Field(default_factory=dict, description="Per-model limits.")


class LimitsConfig(_Strict):
    backend: Literal["memory", "redis"] = Field("memory", description="Where counters live.")
    redis_url: str = Field("redis://127.0.0.1:6379/0", description="Redis URL for backend: redis.")
    on_backend_error: Literal["block", "allow"] = Field("block", description="Fail closed when Redis is down.")
    default: RateLimitConfig = Field(default_factory=RateLimitConfig, description="Per-key defaults.")
    default_max_output_tokens: int = Field(4096, gt=0,
                                           description="Output estimate when a request sets no max_tokens.")


class PriceOverride(_Strict):
    input_per_mtok: float = Field(ge=0, description="USD per million input tokens.")
    output_per_mtok: float = Field(ge=0, description="USD per million output tokens.")
    cached_input_per_mtok: float | None = Field(None, ge=0)
    cache_write_per_mtok: float | None = Field(None, ge=0)
    reasoning_per_mtok: float | None = Field(None, ge=0)
