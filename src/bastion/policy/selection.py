"""Which policy applies to a caller, and the per-request state the output guard reads."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from bastion.config.loader import ConfigError
from bastion.config.policy import DEFAULT_POLICY, PolicyConfig
from bastion.core.context import Principal
from bastion.core.errors import PolicyViolation
from bastion.policy.engine import PolicyEngine
from bastion.policy.redaction import Redactor
from bastion.policy.registry import ScannerRegistry


@dataclass(slots=True)
class PolicyState:
    """ctx.state["policy"]: the request's policy and its redactor (placeholders to restore)."""

    engine: PolicyEngine
    redactor: Redactor = field(default_factory=Redactor)


class PolicySet:
    """Every configured policy, compiled at start-up, and the choice among them.

    `default` is the built-in DEFAULT_POLICY unless the config defines a policy of that
    name (`policies: {default: {}}` turns scanning off). A key's policy wins over its team's;
    a policy name that is not configured fails closed (the request is refused).
    """

    def __init__(self, policies: Mapping[str, PolicyConfig] | None = None,
                 team_policies: Mapping[str, str] | None = None,
                 registry: ScannerRegistry | None = None) -> None:
        configs = dict(policies or {})
        configs.setdefault("default", DEFAULT_POLICY)
        errors: list[str] = []
        self.engines: dict[str, PolicyEngine] = {}
        for name, cfg in configs.items():
            try:
                self.engines[name] = PolicyEngine(name, cfg, registry)
            except ConfigError as e:
                errors.extend(e.errors)
        self.team_policies = dict(team_policies or {})
        for team, name in self.team_policies.items():
            if name not in configs:
                errors.append(f"teams.{team}.policy: unknown policy {name!r}")
        if errors:
            raise ConfigError(errors)

    def name_for(self, principal: Principal | None) -> str:
        if principal is not None:
            if principal.policy:
                return principal.policy
            if principal.team is not None and principal.team in self.team_policies:
                return self.team_policies[principal.team]
        return "default"

    def cache_stats(self) -> dict[str, tuple[int, int, int]]:
        """Per policy with an input scan cache: (hits, misses, entries) so far — for metrics
        read at scrape time (counters only grow; a config reload starts new engines)."""
        return {name: (e.cache.hits, e.cache.misses, len(e.cache)) for name, e in self.engines.items()
                if e.cache is not None}

    def choose(self, principal: Principal | None) -> PolicyEngine:
        name = self.name_for(principal)
        engine = self.engines.get(name)
        if engine is None:
            raise PolicyViolation(f"The request was refused: policy '{name}' is not configured on this gateway "
                                  f"(fail closed); ask the administrator.")
        return engine
