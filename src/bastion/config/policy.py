"""Config schema of the policy engine (owned by the policy capability; see issue 3)."""

from __future__ import annotations

from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

# Where a text of a request comes from: a message's role (system prompts lifted out of the message
# list count as "system"; an assistant's tool-call arguments as "assistant"; a tool result as
# "tool"), a tool definition, the response_format schema, or an embeddings input.
TextSource = Literal["system", "developer", "user", "assistant", "tool", "tool_definitions", "response_format",
                     "embeddings_input"]
TEXT_SOURCES: tuple[str, ...] = get_args(TextSource)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ScannerConfig(_Strict):
    """One scanner rule in a policy; `budget_ms`, `restore` and each scanner's options: docs/policy.md.

    Fields beyond `scanner`, `action` and `on_error` are scanner-specific and validated by the
    policy engine at start-up."""

    model_config = ConfigDict(extra="allow", frozen=True)
    scanner: str = Field(description="secrets | pii | injection | regex | keywords | limits")
    action: Literal["block", "redact", "flag"] = Field("block", description="What a finding causes.")
    on_error: Literal["block", "allow"] = Field("block", description="Fail closed (block) when the scanner errs.")
    roles: list[TextSource] | None = Field(
        None, min_length=1,
        description="Input rules only: scan only these parts of a request (message roles, `tool_definitions`, "
                    "`response_format`, `embeddings_input`); default every text the model reads.")


class PolicyConfig(_Strict):
    input: list[ScannerConfig] = Field(default_factory=list, description="Scanners run on prompts.")
    output: list[ScannerConfig] = Field(default_factory=list, description="Scanners run on responses.")
    capture: Literal["none", "hash", "redacted", "full"] = Field(
        "none", description="How much prompt/response content the audit log keeps.")
    options: dict[str, Any] = Field(default_factory=dict, description="Engine options (e.g. stream window).")



DEFAULT_POLICY = PolicyConfig.model_validate({
    "input": [
        {"scanner": "secrets", "action": "block"},
        {"scanner": "pii", "action": "redact", "restore": True,
         "types": ["email", "phone", "credit_card", "iban", "us_ssn", "ip_address"]},
        {"scanner": "injection", "action": "block", "threshold": 0.8},
    ],
    "output": [
        {"scanner": "secrets", "action": "redact"},
        {"scanner": "pii", "action": "redact"},
    ],
})
"""The built-in policy: used as `default` when the config defines no policy of that name."""
