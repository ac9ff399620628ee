"""A stored virtual key (KeyRecord), its limits, and the views of it: Principal and the public dict."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal, get_args

from bastion.core.context import Budget, ModelLimit, Principal

BudgetPeriod = Literal["day", "week", "month", "total"]
BUDGET_PERIODS: tuple[BudgetPeriod, ...] = ("day", "week", "month", "total")
KeyStatus = Literal["active", "revoked", "expired"]
# The stored settings of a key that an update may change (column names of the key store); the id,
# secret hash, creation and revocation times never change by an update.
KeyField = Literal["name", "team", "models", "policy", "expires_at", "rpm", "tpm", "max_parallel",
                   "budget_usd_micros", "budget_period", "model_limits"]
KEY_FIELDS: tuple[KeyField, ...] = get_args(KeyField)
LIMIT_FIELDS: tuple[KeyField, ...] = ("rpm", "tpm", "max_parallel", "budget_usd_micros", "budget_period",
                                      "model_limits")


@dataclass(slots=True, frozen=True)
class KeyLimits:
    """The limits of a key that may change after creation (all None = the configured defaults)."""

    rpm: int | None = None
    tpm: int | None = None
    max_parallel: int | None = None
    budget_usd_micros: int | None = None
    budget_period: BudgetPeriod | None = None
    model_limits: dict[str, ModelLimit] = field(default_factory=dict)


@dataclass(slots=True, frozen=True)
class KeySpec:
    """The settings of a key: what a caller asks for when creating one (validated input, no identity
    yet), or a key's settings after an update."""

    name: str
    team: str | None = None
    models: tuple[str, ...] | None = None  # None = every configured model
    policy: str | None = None
    limits: KeyLimits = field(default_factory=KeyLimits)
    expires_at: float | None = None  # unix seconds


@dataclass(slots=True, frozen=True)
class KeyRecord:
    """A virtual key as stored. `secret_hash` is SHA-256 hex of the secret; the plaintext is never kept.
    Money is integer micro-USD; times are unix seconds. Do not mutate `model_limits`."""

    id: str
    name: str
    secret_hash: str
    created_at: float
    team: str | None = None
    models: tuple[str, ...] | None = None
    policy: str | None = None
    rpm: int | None = None
    tpm: int | None = None
    max_parallel: int | None = None
    budget_usd_micros: int | None = None
    budget_period: BudgetPeriod | None = None
    model_limits: dict[str, ModelLimit] = field(default_factory=dict)
    expires_at: float | None = None
    revoked_at: float | None = None

    @classmethod
    def from_spec(cls, key_id: str, spec: KeySpec, secret_hash: str, created_at: float) -> KeyRecord:
        lim = spec.limits
        return cls(id=key_id, name=spec.name, secret_hash=secret_hash, created_at=created_at,
                   team=spec.team, models=spec.models, policy=spec.policy, rpm=lim.rpm, tpm=lim.tpm,
                   max_parallel=lim.max_parallel, budget_usd_micros=lim.budget_usd_micros,
                   budget_period=lim.budget_period, model_limits=dict(lim.model_limits),
                   expires_at=spec.expires_at)

    @property
    def spec(self) -> KeySpec:
        """The key's current settings."""
        return KeySpec(name=self.name, team=self.team, models=self.models, policy=self.policy,
                       limits=self.limits, expires_at=self.expires_at)

    @property
    def limits(self) -> KeyLimits:
        return KeyLimits(self.rpm, self.tpm, self.max_parallel, self.budget_usd_micros,
                         self.budget_period, dict(self.model_limits))

    def status(self, now: float) -> KeyStatus:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"

    def to_principal(self) -> Principal:
        budgets: tuple[Budget, ...] = ()
        if self.budget_usd_micros is not None:
            budgets = (Budget(self.budget_usd_micros, self.budget_period or "month"),)
        return Principal(
            key_id=self.id, name=self.name, team=self.team,
            models=frozenset(self.models) if self.models is not None else None,
            policy=self.policy, rpm=self.rpm, tpm=self.tpm, max_parallel=self.max_parallel,
            budgets=budgets, model_limits=tuple(sorted(self.model_limits.items())),
            expires_at=self.expires_at)

    def public_view(self, now: float) -> dict[str, object]:
        """The record as the admin API and `keys list --json` show it: never the secret nor its hash."""
        micros = self.budget_usd_micros
        return {
            "id": self.id, "name": self.name, "team": self.team,
            "models": list(self.models) if self.models is not None else None,
            "policy": self.policy, "rpm": self.rpm, "tpm": self.tpm, "max_parallel": self.max_parallel,
            "budget_usd_micros": micros,
            "budget_usd": micros / 1_000_000 if micros is not None else None,  # display only
            "budget_period": self.budget_period if micros is not None else None,
            "model_limits": {m: {"rpm": lim.rpm, "tpm": lim.tpm} for m, lim in sorted(self.model_limits.items())},
            "expires_at": iso_time(self.expires_at), "created_at": iso_time(self.created_at),
            "revoked_at": iso_time(self.revoked_at), "status": self.status(now),
        }


def iso_time(ts: float | None) -> str | None:
    """Unix seconds as an ISO 8601 UTC string (second precision)."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
