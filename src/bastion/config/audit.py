"""Config schema of the audit log and observability (owned by issue 5)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)


class AuditConfig(_Strict):
    enabled: bool = Field(True, description="Write an audit record for every request.")
    mode: Literal["async", "sync"] = Field("async", description="sync holds each response until its record is durable.")
    on_error: Literal["block", "allow"] = Field("block", description="Refuse (503) when records cannot be stored.")
    buffer_size: int = Field(10000, gt=0, description="Bounded in-memory buffer of records awaiting write.")
    batch_size: int = Field(500, gt=0)
    flush_interval_seconds: float = Field(0.2, gt=0)


class ObservabilityConfig(_Strict):
    metrics: bool = Field(True, description="Serve Prometheus metrics at /metrics.")
    log_level: Literal["debug", "info", "warning", "error"] = Field("info")
    access_log: bool = Field(True, description="One JSON log line per request.")
