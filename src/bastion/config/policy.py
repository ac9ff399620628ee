"""Config schema of the policy engine (owned by the policy capability; see issue 3)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


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
