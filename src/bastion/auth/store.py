"""The key store: a small protocol and its SQL implementation over bastion.store.db (SQLite or PostgreSQL)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol, cast

import orjson

from bastion.auth import keys
from bastion.auth.record import (
    BUDGET_PERIODS,
    KEY_FIELDS,
    BudgetPeriod,
    KeyField,
    KeyLimits,
    KeyRecord,
    KeySpec,
)
from bastion.core.context import ModelLimit
from bastion.core.errors import InternalError, ServiceUnavailable
from bastion.store.db import Database, Row

DDL = (
    """CREATE TABLE IF NOT EXISTS bastion_keys (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        team TEXT,
        models TEXT,
        policy TEXT,
        rpm BIGINT,
        tpm BIGINT,
        max_parallel BIGINT,
        budget_usd_micros BIGINT,
        budget_period TEXT,
        model_limits TEXT NOT NULL,
        expires_at DOUBLE PRECISION,
        created_at DOUBLE PRECISION NOT NULL,
        revoked_at DOUBLE PRECISION,
        secret_hash TEXT NOT NULL,
        changed_at DOUBLE PRECISION
    )""",
    "CREATE INDEX IF NOT EXISTS bastion_keys_team ON bastion_keys (team)",
)
# `changed_at` (unix seconds, the writer's clock) is set by create, revoke and every update, so a
# process can poll for what changed instead of re-reading each key. Tables made before it existed get
# the column at migrate; their rows get their last known change time.
_ADD_CHANGED_AT = {"postgres": "ALTER TABLE bastion_keys ADD COLUMN IF NOT EXISTS changed_at DOUBLE PRECISION",
                   "sqlite": "ALTER TABLE bastion_keys ADD COLUMN changed_at DOUBLE PRECISION"}
_CHANGED_AT_DDL = (
    "CREATE INDEX IF NOT EXISTS bastion_keys_changed ON bastion_keys (changed_at)",
    "UPDATE bastion_keys SET changed_at = COALESCE(revoked_at, created_at) WHERE changed_at IS NULL",
)

_COLUMNS = ("id, name, team, models, policy, rpm, tpm, max_parallel, budget_usd_micros, budget_period, "
            "model_limits, expires_at, created_at, revoked_at, secret_hash")


class KeyStore(Protocol):
    """Where virtual keys live. Implementations map their driver's errors to ServiceUnavailable."""

    async def migrate(self) -> None:
        """Create the tables if missing and bring older ones up to date (idempotent)."""
        ...

    async def create(self, record: KeyRecord) -> bool:
        """Insert a new key; False (and nothing written) when the id is already taken."""
        ...

    async def get(self, key_id: str) -> KeyRecord | None: ...

    async def changed_since(self, since: float) -> list[KeyRecord]:
        """Keys created, revoked or updated at or after `since` (unix seconds, as the writers' clocks
        stamped them)."""
        ...

    async def list(self, include_revoked: bool = False, team: str | None = None) -> list[KeyRecord]:
        """Keys ordered by creation time, optionally only one team's."""
        ...

    async def revoke(self, key_id: str, at: float | None = None) -> bool:
        """Mark a key revoked; False when it does not exist or is already revoked."""
        ...

    async def update_limits(self, key_id: str, limits: KeyLimits) -> bool:
        """Replace every limit of a live (not revoked) key; False when there is none."""
        ...

    async def update(self, key_id: str, spec: KeySpec, fields: Iterable[KeyField] = KEY_FIELDS) -> bool:
        """Set the named settings of a live (not revoked) key to `spec`'s, in one atomic write that
        leaves the other settings as they are (so concurrent updates of different fields both
        hold); False when there is no live key. Never un-revokes; never touches the secret."""
        ...


def _opt_int(v: object) -> int | None:
    return None if v is None else int(cast(int, v))


def _opt_float(v: object) -> float | None:
    return None if v is None else float(cast(float, v))


def _dump_model_limits(model_limits: dict[str, ModelLimit]) -> str:
    return orjson.dumps({m: {"rpm": lim.rpm, "tpm": lim.tpm} for m, lim in sorted(model_limits.items())}).decode()


def _load_model_limits(text: str) -> dict[str, ModelLimit]:
    raw = orjson.loads(text) if text else {}
    return {m: ModelLimit(rpm=_opt_int(v.get("rpm")), tpm=_opt_int(v.get("tpm"))) for m, v in raw.items()}


def _dump_models(models: tuple[str, ...] | None) -> str | None:
    return orjson.dumps(list(models)).decode() if models is not None else None


# What each updatable column is written from (the keys are the only column names an update writes).
_SETTING: dict[KeyField, Callable[[KeySpec], object]] = {
    "name": lambda s: s.name,
    "team": lambda s: s.team,
    "models": lambda s: _dump_models(s.models),
    "policy": lambda s: s.policy,
    "expires_at": lambda s: _opt_float(s.expires_at),
    "rpm": lambda s: s.limits.rpm,
    "tpm": lambda s: s.limits.tpm,
    "max_parallel": lambda s: s.limits.max_parallel,
    "budget_usd_micros": lambda s: s.limits.budget_usd_micros,
    "budget_period": lambda s: s.limits.budget_period,
    "model_limits": lambda s: _dump_model_limits(s.limits.model_limits),
}


def _row_to_record(row: Row) -> KeyRecord:
    (key_id, name, team, models, policy, rpm, tpm, max_parallel, budget, period, model_limits,
     expires_at, created_at, revoked_at, secret_hash) = row
    return KeyRecord(
        id=key_id, name=name, team=team,
        models=tuple(orjson.loads(models)) if models is not None else None,
        policy=policy, rpm=_opt_int(rpm), tpm=_opt_int(tpm), max_parallel=_opt_int(max_parallel),
        budget_usd_micros=_opt_int(budget),
        budget_period=cast(BudgetPeriod, period) if period in BUDGET_PERIODS else None,
        model_limits=_load_model_limits(model_limits), expires_at=_opt_float(expires_at),
        created_at=float(created_at), revoked_at=_opt_float(revoked_at), secret_hash=secret_hash)


class SqlKeyStore:
    """KeyStore over a bastion.store.db.Database; portable SQL with `?` placeholders."""

    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock

    async def migrate(self) -> None:
        await self._db.migrate(DDL)
        if not await self._has_changed_at():
            try:
                await self._db.migrate((_ADD_CHANGED_AT[self._db.dialect],))
            except ServiceUnavailable:
                if not await self._has_changed_at():  # else another process added it first (SQLite)
                    raise
        await self._db.migrate(_CHANGED_AT_DDL)

    async def _has_changed_at(self) -> bool:
        """Checked first (not only ADD COLUMN IF NOT EXISTS), so an up-to-date table is not locked."""
        if self._db.dialect == "postgres":
            row = await self._db.fetchone(
                "SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() "
                "AND table_name = 'bastion_keys' AND column_name = 'changed_at'")
            return row is not None
        return any(row[1] == "changed_at" for row in await self._db.fetchall("PRAGMA table_info(bastion_keys)"))

    async def create(self, record: KeyRecord) -> bool:
        r = record
        models = _dump_models(r.models)
        n = await self._db.execute(
            f"INSERT INTO bastion_keys ({_COLUMNS}, changed_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
            (r.id, r.name, r.team, models, r.policy, r.rpm, r.tpm, r.max_parallel, r.budget_usd_micros,
             r.budget_period, _dump_model_limits(r.model_limits), _opt_float(r.expires_at),
             float(r.created_at), _opt_float(r.revoked_at), r.secret_hash, float(self._clock())))
        return n == 1

    async def get(self, key_id: str) -> KeyRecord | None:
        row = await self._db.fetchone(f"SELECT {_COLUMNS} FROM bastion_keys WHERE id = ?", (key_id,))
        return _row_to_record(row) if row is not None else None

    async def changed_since(self, since: float) -> list[KeyRecord]:
        rows = await self._db.fetchall(f"SELECT {_COLUMNS} FROM bastion_keys WHERE changed_at >= ?", (float(since),))
        return [_row_to_record(r) for r in rows]

    async def list(self, include_revoked: bool = False, team: str | None = None) -> list[KeyRecord]:
        where: list[str] = []
        params: list[object] = []
        if not include_revoked:
            where.append("revoked_at IS NULL")
        if team is not None:
            where.append("team = ?")
            params.append(team)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        rows = await self._db.fetchall(
            f"SELECT {_COLUMNS} FROM bastion_keys{clause} ORDER BY created_at, id", params)
        return [_row_to_record(r) for r in rows]

    async def revoke(self, key_id: str, at: float | None = None) -> bool:
        now = float(self._clock())  # changed_at is when the change is written, even for a back-dated `at`
        n = await self._db.execute(
            "UPDATE bastion_keys SET revoked_at = ?, changed_at = ? WHERE id = ? AND revoked_at IS NULL",
            (now if at is None else float(at), now, key_id))
        return n == 1

    async def update_limits(self, key_id: str, limits: KeyLimits) -> bool:
        lim = limits
        n = await self._db.execute(
            "UPDATE bastion_keys SET rpm = ?, tpm = ?, max_parallel = ?, budget_usd_micros = ?, "
            "budget_period = ?, model_limits = ?, changed_at = ? WHERE id = ? AND revoked_at IS NULL",
            (lim.rpm, lim.tpm, lim.max_parallel, lim.budget_usd_micros, lim.budget_period,
             _dump_model_limits(lim.model_limits), float(self._clock()), key_id))
        return n == 1

    async def update(self, key_id: str, spec: KeySpec, fields: Iterable[KeyField] = KEY_FIELDS) -> bool:
        wanted = set(fields)
        unknown = wanted.difference(_SETTING)
        if unknown:
            raise ValueError(f"not an updatable key field: {', '.join(sorted(map(str, unknown)))}")
        columns = [f for f in KEY_FIELDS if f in wanted]  # fixed names from _SETTING, never input
        n = await self._db.execute(
            f"UPDATE bastion_keys SET {''.join(f'{c} = ?, ' for c in columns)}changed_at = ? "
            "WHERE id = ? AND revoked_at IS NULL",
            (*(_SETTING[c](spec) for c in columns), float(self._clock()), key_id))
        return n == 1


@dataclass(slots=True, frozen=True)
class IssuedKey:
    """A key just created: the record and the plaintext, which exists only here and is shown once."""

    record: KeyRecord
    plaintext: str

    def __repr__(self) -> str:
        return f"IssuedKey(record={self.record!r}, plaintext='**********')"


async def issue_key(store: KeyStore, spec: KeySpec, now: float | None = None,
                    generate: Callable[[], tuple[str, str]] = keys.generate) -> IssuedKey:
    """Generate a key for `spec`, store its hash, and return the plaintext once.
    A (vanishingly rare) id collision is retried with a fresh key."""
    created = time.time() if now is None else now
    for _ in range(5):
        key_id, plaintext = generate()
        parsed = keys.parse(plaintext)
        if parsed is None or parsed[0] != key_id:
            raise InternalError("key generator produced a malformed key")
        record = KeyRecord.from_spec(key_id, spec, keys.hash_secret(parsed[1]), created)
        if await store.create(record):
            return IssuedKey(record, plaintext)
    raise ServiceUnavailable("could not allocate a unique key id; try again")
