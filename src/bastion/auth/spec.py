"""Validation of key requests (admin API bodies and CLI flags) into KeySpec / KeyLimits, errors naming the field."""

from __future__ import annotations

import re
from collections.abc import Set
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Annotated, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from bastion.auth.record import KEY_FIELDS, BudgetPeriod, KeyField, KeyLimits, KeySpec
from bastion.core.context import ModelLimit
from bastion.core.errors import InvalidRequest

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
MAX_COUNT = 2**53  # fits BIGINT and a JSON number exactly
MAX_BUDGET_USD = 1e9
_M = TypeVar("_M", bound=BaseModel)


def _printable(v: str) -> str:
    v = v.strip()
    if not v:
        raise ValueError("must not be empty")
    if _CONTROL.search(v):
        raise ValueError("must not contain control characters or line breaks")
    return v


Label = Annotated[str, Field(max_length=128), AfterValidator(_printable)]
Count = Annotated[int, Field(strict=True, ge=0, le=MAX_COUNT)]
Usd = Annotated[float, Field(strict=True, ge=0, le=MAX_BUDGET_USD, allow_inf_nan=False)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelLimitRequest(_Strict):
    rpm: Count | None = None
    tpm: Count | None = None


class LimitsRequest(_Strict):
    """Limits of a key; in an update, only the fields sent change (null clears one)."""

    rpm: Count | None = None
    tpm: Count | None = None
    max_parallel: Count | None = None
    budget_usd: Usd | None = None
    budget_period: BudgetPeriod | None = None
    model_limits: dict[Label, ModelLimitRequest] | None = None

    def apply(self, current: KeyLimits, known_models: Set[str] | None = None) -> KeyLimits:
        """`current` with the fields that were sent replaced; InvalidRequest naming a bad field."""
        sent = self.model_fields_set
        micros = current.budget_usd_micros
        if "budget_usd" in sent:
            micros = usd_to_micros(self.budget_usd) if self.budget_usd is not None else None
        period = self.budget_period if "budget_period" in sent else current.budget_period
        if micros is None:
            if "budget_period" in sent and period is not None:
                raise InvalidRequest("budget_period: needs budget_usd", param="budget_period")
            period = None
        elif period is None:
            period = "month"
        model_limits = dict(current.model_limits)
        if "model_limits" in sent:
            model_limits = {}
            for model, lim in (self.model_limits or {}).items():
                if known_models is not None and model not in known_models:
                    raise InvalidRequest(f"model_limits.{model}: unknown model", param="model_limits")
                model_limits[model] = ModelLimit(rpm=lim.rpm, tpm=lim.tpm)
        return KeyLimits(
            rpm=self.rpm if "rpm" in sent else current.rpm,
            tpm=self.tpm if "tpm" in sent else current.tpm,
            max_parallel=self.max_parallel if "max_parallel" in sent else current.max_parallel,
            budget_usd_micros=micros, budget_period=period, model_limits=model_limits)


Team = Annotated[str, Field(max_length=64), AfterValidator(_printable)]
ModelName = Annotated[str, Field(max_length=256), AfterValidator(_printable)]


class _SettingsRequest(LimitsRequest):
    """The settings of a key besides its limits, and their checks against the config."""

    team: Team | None = None
    models: list[ModelName] | None = Field(None, min_length=1)
    policy: Label | None = None
    expires: str | None = Field(None, max_length=64)

    def _models(self, known_models: Set[str] | None) -> tuple[str, ...] | None:
        if self.models is None:
            return None
        models = tuple(dict.fromkeys(self.models))
        if known_models is not None:
            for i, m in enumerate(models):
                if m not in known_models:
                    raise InvalidRequest(f"models[{i}]: unknown model {m!r}", param="models")
        return models

    def _team(self, known_teams: Set[str] | None) -> str | None:
        if self.team is not None and known_teams and self.team not in known_teams:
            raise InvalidRequest(f"team: unknown team {self.team!r} (the config declares {', '.join(sorted(known_teams))}); "
                                 "declare it under `teams:` in the config", param="team")
        return self.team

    def _policy(self, known_policies: Set[str] | None) -> str | None:
        if self.policy is not None and known_policies is not None and self.policy != "default" \
                and self.policy not in known_policies:
            raise InvalidRequest(f"policy: unknown policy {self.policy!r}", param="policy")
        return self.policy

    def _expires_at(self, now: float) -> float | None:
        if self.expires is None:
            return None
        try:
            return parse_expiry(self.expires, now)
        except ValueError as e:
            raise InvalidRequest(f"expires: {e}", param="expires") from None


class KeyRequest(_SettingsRequest):
    """A request to create a key (POST /admin/keys body, `bastion keys create` flags)."""

    name: Label

    def to_spec(self, now: float, known_policies: Set[str] | None = None,
                known_models: Set[str] | None = None, known_teams: Set[str] | None = None) -> KeySpec:
        """`known_*`: what the config defines (None: not checked). Teams are checked only when the
        config declares some: a misspelt team would otherwise escape its team's limits and budgets."""
        models = self._models(known_models)
        team = self._team(known_teams)
        policy = self._policy(known_policies)
        return KeySpec(name=self.name, team=team, models=models, policy=policy,
                       limits=self.apply(KeyLimits(), known_models), expires_at=self._expires_at(now))


class UpdateRequest(_SettingsRequest):
    """A change to an issued key (PATCH /admin/keys/{id} body, `bastion keys update` flags): only the
    fields sent change. null clears a setting: team (none), models (every model), policy (the team's,
    else `default`), expires (never), a limit (the configured default); a name cannot be cleared."""

    name: Label | None = None

    def changed(self) -> list[str]:
        """The request fields sent, sorted (what the audit log names; never their values)."""
        return sorted(self.model_fields_set)

    def apply_to(self, current: KeySpec, now: float, known_policies: Set[str] | None = None,
                 known_models: Set[str] | None = None,
                 known_teams: Set[str] | None = None) -> tuple[KeySpec, tuple[KeyField, ...]]:
        """The key's settings after this update, and the stored fields it writes. Checks as a create
        does (`known_*`, an expiry in the future); InvalidRequest naming the field."""
        sent = self.model_fields_set
        if "name" in sent and self.name is None:
            raise InvalidRequest("name: cannot be null; a key always has a name", param="name")
        fields: set[KeyField] = {f for f in ("name", "team", "models", "policy", "rpm", "tpm", "max_parallel",
                                             "model_limits") if f in sent}
        if "expires" in sent:
            fields.add("expires_at")
        if "budget_usd" in sent:  # the period follows the amount (set to "month", or cleared): written together
            fields |= {"budget_usd_micros", "budget_period"}
        elif "budget_period" in sent:  # only the period: the amount is not rewritten (a concurrent change stays)
            fields.add("budget_period")
        spec = KeySpec(
            name=self.name if self.name is not None else current.name,
            team=self._team(known_teams) if "team" in sent else current.team,
            models=self._models(known_models) if "models" in sent else current.models,
            policy=self._policy(known_policies) if "policy" in sent else current.policy,
            limits=self.apply(current.limits, known_models),
            expires_at=self._expires_at(now) if "expires" in sent else current.expires_at)
        return spec, tuple(f for f in KEY_FIELDS if f in fields)


def parse_key_request(data: object) -> KeyRequest:
    return _validate(KeyRequest, data)


def parse_update_request(data: object) -> UpdateRequest:
    return _validate(UpdateRequest, data)


def _validate(model: type[_M], data: object) -> _M:
    try:
        return model.model_validate(data)
    except ValidationError as e:
        message, param = validation_message(e)
        raise InvalidRequest(message, param=param) from None


def validation_message(err: ValidationError) -> tuple[str, str | None]:
    """`field: problem` for every error (joined with "; ") and the first field's name.
    Input values are not echoed: they may hold secrets pasted by mistake."""
    parts: list[str] = []
    first: str | None = None
    for e in err.errors(include_input=False, include_url=False):
        loc = ""
        for p in e["loc"]:
            loc += f"[{p}]" if isinstance(p, int) else (f".{p}" if loc else str(p))
        if first is None:
            first = str(e["loc"][0]) if e["loc"] else None
        msg = "unknown field" if e["type"] == "extra_forbidden" else e["msg"].removeprefix("Value error, ")
        parts.append(f"{loc or 'body'}: {msg}")
    return "; ".join(parts), first


def usd_to_micros(usd: float) -> int:
    """USD (as typed by a person) to integer micro-USD, via the shortest decimal repr, not binary float."""
    return int((Decimal(repr(usd)) * 1_000_000).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def parse_expiry(text: str, now: float) -> float:
    """An ISO date (midnight UTC) or datetime (naive = UTC) as unix seconds; must lie after `now`."""
    text = text.strip()
    try:
        if _DATE.fullmatch(text):
            d = date.fromisoformat(text)
            moment = datetime(d.year, d.month, d.day, tzinfo=UTC)
        else:
            moment = datetime.fromisoformat(text)
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
    except ValueError:
        raise ValueError("expected an ISO date (2027-01-01) or datetime (2027-01-01T12:00:00Z)") from None
    ts = moment.timestamp()
    if ts <= now:
        raise ValueError("must be in the future")
    return ts
