"""Config schema of the audit log and observability (owned by issue 5)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from bastion.core.secret import Secret


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)


def _wrap_secret(v: object, min_len: int, what: str) -> object:
    if v is None or v == "":
        return None
    if isinstance(v, str):
        if len(v) < min_len:
            raise ValueError(f"{what} must be at least {min_len} characters")
        return Secret(v)
    return v


class AuditConfig(_Strict):
    enabled: bool = Field(True, description="Write an audit record for every request.")
    mode: Literal["async", "sync"] = Field("async", description="sync holds each response until its record is durable.")
    on_error: Literal["block", "allow"] = Field(
        "block", description="block: refuse new requests (503) when records cannot be buffered; "
                             "allow: keep serving and count the records that could not be kept.")
    buffer_size: int = Field(
        10000, gt=0, description="Bounded in-memory buffer of records awaiting write. Each admitted request "
                                 "reserves a slot, so this also bounds concurrent requests.")
    batch_size: int = Field(500, gt=0, description="Most records written in one store round trip.")
    flush_interval_seconds: float = Field(0.2, gt=0, description="Longest a record waits in the buffer when idle.")
    writer_id: str | None = Field(
        None, pattern=r"^[A-Za-z0-9_.-]{1,64}$",
        description="Name of this process's hash chain. Default: random per start. When set it must be "
                    "unique per replica; the writer resumes its chain from the store.")
    checkpoint_key: Secret | None = Field(
        None, description="HMAC-SHA256 key (>= 32 chars) signing periodic checkpoints of the chain; use "
                          "${env:NAME} or ${file:/path}. Without it checkpoints are unsigned and "
                          "`bastion audit verify` warns that the chain could be rewritten consistently.")
    checkpoint_every: int = Field(1000, gt=0, description="Write a checkpoint after this many records.")
    checkpoint_interval_seconds: float = Field(
        60.0, gt=0, description="Write a checkpoint at least this often while records arrive.")
    sync_timeout_seconds: float = Field(
        5.0, gt=0, description="In sync mode, longest a response waits for its record to become durable.")
    retry_backoff_max_seconds: float = Field(
        5.0, gt=0, description="Largest pause between retries while the store is failing.")
    max_content_chars: int = Field(
        65536, gt=0, description="Captured prompt/response text (redacted/full capture) is cut at this length.")

    @field_validator("checkpoint_key", mode="before")
    @classmethod
    def _wrap_key(cls, v: object) -> object:
        return _wrap_secret(v, 32, "checkpoint_key")


class ObservabilityConfig(_Strict):
    metrics: bool = Field(True, description="Serve Prometheus metrics at /metrics.")
    metrics_token: Secret | None = Field(
        None, description="When set (>= 16 chars), /metrics requires `Authorization: Bearer <token>`.")
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        "info", description="Least severe level logged. The audit log's checkpoint lines (info) are logged at any "
                            "level: they are the copy of the chain heads outside the store.")
    access_log: bool = Field(True, description=(
        "One JSON log line per request. Written to a file (stdout redirected), the lines of one 0.1 s interval share "
        "one flush (one write system call instead of one per request); shutdown flushes what is left, and a crash can "
        "lose at most that interval's access lines (the audit log, not the access log, is the record that loses "
        "nothing). On stderr (a terminal or a pipe) too: there the lines go out in whole-line writes of at most 4 KiB "
        "(atomic on a pipe, so workers sharing one stderr never split a line), and any warning, error or other write to "
        "stderr writes them first, so the order holds."))
    tracing: bool = Field(
        False, description="Emit OpenTelemetry spans (GenAI conventions) when opentelemetry is installed.")

    @field_validator("metrics_token", mode="before")
    @classmethod
    def _wrap_token(cls, v: object) -> object:
        return _wrap_secret(v, 16, "metrics_token")
