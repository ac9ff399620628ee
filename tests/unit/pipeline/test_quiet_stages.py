"""pipeline/runner.py: `settle` skips the `finish` of a stage that says it has none (`finishes = False`,
as the policy stage); every other entered stage still finishes, last entered first, once."""

from __future__ import annotations

from typing import Any

from bastion.core.context import RequestContext
from bastion.pipeline.runner import Pipeline
from bastion.policy.stage import PolicyStage


class _Stage:
    def __init__(self, name: str, log: list[str], finishes: bool | None = None) -> None:
        self.name = name
        self._log = log
        if finishes is not None:
            self.finishes = finishes

    async def check(self, ctx: RequestContext, req: Any) -> None:
        self._log.append("check " + self.name)

    async def finish(self, ctx: RequestContext) -> None:
        self._log.append("finish " + self.name)


async def test_settle_skips_only_stages_without_a_finish() -> None:
    log: list[str] = []
    stages = [_Stage("a", log), _Stage("quiet", log, finishes=False), _Stage("b", log, finishes=True)]
    p = Pipeline(auth=None, stages=stages, router=None, guard=None, observers=[])  # type: ignore[arg-type]
    ctx = RequestContext("r1", "openai", "chat", None)
    ctx.state["_entered"] = list(stages)
    await p.settle(ctx)
    await p.settle(ctx)  # once per request
    assert log == ["finish b", "finish a"]


async def test_the_policy_stage_has_no_finish_to_call() -> None:
    assert PolicyStage.finishes is False
    assert await PolicyStage().finish(RequestContext("r1", "openai", "chat", None)) is None
