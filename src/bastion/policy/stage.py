"""The input policy stage (core.context.RequestStage "policy") and the wiring of the guard."""

from __future__ import annotations

from collections.abc import Mapping

from bastion.config.policy import PolicyConfig
from bastion.config.schema import BastionConfig
from bastion.core.context import RequestContext
from bastion.core.types import ChatRequest, EmbeddingsRequest
from bastion.policy.guard import OutputGuard
from bastion.policy.registry import ScannerRegistry
from bastion.policy.selection import PolicySet, PolicyState


class PolicyStage:
    """Chooses the caller's policy, scans the request (blocks or redacts it in place) and
    leaves in ctx.state["policy"] what the output guard needs."""

    name = "policy"

    def __init__(self, policies: Mapping[str, PolicyConfig] | PolicySet | None = None,
                 team_policies: Mapping[str, str] | None = None,
                 registry: ScannerRegistry | None = None) -> None:
        self.policies = policies if isinstance(policies, PolicySet) else PolicySet(policies, team_policies, registry)
        self.guard = OutputGuard(self.policies)

    @classmethod
    def from_config(cls, config: BastionConfig, registry: ScannerRegistry | None = None) -> PolicyStage:
        teams = {name: team.policy for name, team in config.teams.items() if team.policy is not None}
        return cls(config.policies, teams, registry)

    async def check(self, ctx: RequestContext, request: ChatRequest | EmbeddingsRequest) -> None:
        engine = self.policies.choose(ctx.principal)
        ctx.policy_name = engine.name
        state = PolicyState(engine)
        ctx.state[self.name] = state
        engine.scan_request(ctx, request, state.redactor)

    async def finish(self, ctx: RequestContext) -> None:
        return None
