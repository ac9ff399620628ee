"""The input policy stage (core.context.RequestStage "policy") and the wiring of the guard."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor

from bastion.config.policy import PolicyConfig
from bastion.config.schema import BastionConfig
from bastion.core.context import Finding, RequestContext
from bastion.core.types import ChatRequest, EmbeddingsRequest
from bastion.limits.estimate import STATE_KEY as TOKENS
from bastion.limits.estimate import TokenEstimate, estimate_input
from bastion.policy.guard import OutputGuard
from bastion.policy.registry import ScannerRegistry
from bastion.policy.selection import PolicySet, PolicyState

# A prompt this large (in estimated tokens, ~4 bytes each) is scanned on a worker thread: the scan
# still holds the GIL most of the time, but the event loop gets it back every switch interval
# (5 ms), so one huge prompt slows the other requests instead of stopping them (a 3 MB prompt
# is seconds of scanning on a slow core). Small prompts stay on the loop: a thread hand-off costs
# more than their scan.
OFFLOAD_TOKENS = 16_384
_SCANNERS = ThreadPoolExecutor(max_workers=2, thread_name_prefix="bastion-scan")


class PolicyStage:
    """Chooses the caller's policy, scans the request (blocks or redacts it in place) and
    leaves in ctx.state["policy"] what the output guard needs."""

    name = "policy"
    finishes = False  # `finish` does nothing: the pipeline need not call it (pipeline/runner.py `settle`)

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
        if not engine.input_rules:  # nothing to scan (scan_request would return at once)
            return
        est = ctx.state.get(TOKENS)  # the limits stage's estimate, else one made here
        if (est.input if isinstance(est, TokenEstimate) else estimate_input(request)) >= OFFLOAD_TOKENS:
            # The thread cannot be stopped: if this request is abandoned meanwhile (the client left),
            # the scan finishes into a list nobody reads, never into the finalized context.
            found: list[Finding] = []
            try:
                await asyncio.get_running_loop().run_in_executor(
                    _SCANNERS, lambda: engine.scan_request(ctx, request, state.redactor, use_cache=False,
                                                           findings=found))
            finally:
                ctx.findings.extend(found)
            return
        engine.scan_request(ctx, request, state.redactor)

    async def finish(self, ctx: RequestContext) -> None:
        return None
