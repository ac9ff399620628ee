"""Which limits apply to a request: per key (or the config default), per key and model, per
team, per team and model. Each scope is a counter id plus the limits configured on it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from bastion.config.limits import LimitsConfig, TeamConfig
from bastion.core.context import Principal


def _esc(part: str) -> str:
    # Counter ids join parts with ":"; model names may contain one (ollama "llama3.2:3b").
    return part.replace("%", "%25").replace(":", "%3A") if ("%" in part or ":" in part) else part


def budget_owner(scope: str) -> tuple[str, str] | None:
    """("key", key id) or ("team", team name) of a key_scope / team_scope id; None for others."""
    kind, _, part = scope.partition(":")
    if kind not in ("k", "t") or not part:
        return None
    return ("key" if kind == "k" else "team"), part.replace("%3A", ":").replace("%25", "%")


def key_scope(key_id: str) -> str:
    return "k:" + _esc(key_id)


def team_scope(team: str) -> str:
    return "t:" + _esc(team)


def key_model_scope(key_id: str, model: str) -> str:
    return "km:" + _esc(key_id) + ":" + _esc(model)


def team_model_scope(team: str, model: str) -> str:
    return "tm:" + _esc(team) + ":" + _esc(model)


@dataclass(slots=True, frozen=True)
class ScopeLimit:
    """One counter scope and its limits (None: not limited on that dimension).
    `label` names it in refusal messages: "key 'k1'", "team 'payments', model 'gpt-4o'"."""

    id: str
    label: str
    rpm: int | None = None
    tpm: int | None = None
    max_parallel: int | None = None


class ScopeResolver:
    """Resolves and caches the scopes of (principal, model). The cache is keyed by key id and
    model and checks the Principal's identity, so a re-loaded key with new limits recomputes."""

    def __init__(self, limits: LimitsConfig, teams: Mapping[str, TeamConfig], max_cached: int = 50_000) -> None:
        self._default = limits.default
        self._teams = dict(teams)
        self._cache: dict[tuple[str, str], tuple[Principal, tuple[ScopeLimit, ...]]] = {}
        self._max = max_cached

    def scopes(self, principal: Principal, model: str) -> tuple[ScopeLimit, ...]:
        ck = (principal.key_id, model)
        hit = self._cache.get(ck)
        if hit is not None and hit[0] is principal:
            return hit[1]
        scopes = self._resolve(principal, model)
        if len(self._cache) >= self._max:
            self._cache.clear()
        self._cache[ck] = (principal, scopes)
        return scopes

    def _resolve(self, p: Principal, model: str) -> tuple[ScopeLimit, ...]:
        d = self._default
        out: list[ScopeLimit] = []
        key = ScopeLimit(key_scope(p.key_id), f"key {p.key_id!r}",
                         rpm=p.rpm if p.rpm is not None else d.rpm,
                         tpm=p.tpm if p.tpm is not None else d.tpm,
                         max_parallel=p.max_parallel if p.max_parallel is not None else d.max_parallel)
        _add(out, key)
        for name, ml in p.model_limits:
            if name == model:
                _add(out, ScopeLimit(key_model_scope(p.key_id, model), f"key {p.key_id!r}, model {model!r}",
                                     rpm=ml.rpm, tpm=ml.tpm))
        team = self._teams.get(p.team) if p.team is not None else None
        if team is not None and p.team is not None:
            _add(out, ScopeLimit(team_scope(p.team), f"team {p.team!r}", rpm=team.rpm, tpm=team.tpm,
                                 max_parallel=team.max_parallel))
            tm = team.models.get(model)
            if tm is not None:
                _add(out, ScopeLimit(team_model_scope(p.team, model), f"team {p.team!r}, model {model!r}",
                                     rpm=tm.rpm, tpm=tm.tpm, max_parallel=tm.max_parallel))
        return tuple(out)


def _add(out: list[ScopeLimit], s: ScopeLimit) -> None:
    if s.rpm is not None or s.tpm is not None or s.max_parallel is not None:
        out.append(s)
