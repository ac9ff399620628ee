"""Loads the config: YAML (or the built-in default) → secret refs resolved → validated tree.

This is the only module that reads the process environment.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from bastion.config.schema import BastionConfig

_REF = re.compile(r"\$\{(env|file):([^}]+)\}")
OLLAMA_URL = "http://127.0.0.1:11434/v1"


class ConfigError(Exception):
    """A config problem; `errors` lists `path: message` lines, never a secret value."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


def _resolve(value: Any, path: str, errors: list[str], env: Mapping[str, str], offline: bool = False) -> Any:
    if isinstance(value, dict):
        return {k: _resolve(v, f"{path}.{k}" if path else str(k), errors, env, offline) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, f"{path}[{i}]", errors, env, offline) for i, v in enumerate(value)]
    if isinstance(value, str) and "${" in value:
        # offline: commands that never call a provider (keys, usage, audit) need none of its secrets
        unneeded = offline and path.startswith("providers.") and (path.endswith(".api_key") or ".headers." in path)

        def sub(m: re.Match[str]) -> str:
            kind, name = m.group(1), m.group(2).strip()
            if kind == "env":
                if name not in env:
                    if unneeded:
                        return f"unset-{name}"
                    errors.append(f"{path}: environment variable {name} is not set")
                    return ""
                return env[name]
            try:
                return Path(name).read_text().strip()
            except OSError as e:
                if unneeded:
                    return "unreadable-secret-file"
                errors.append(f"{path}: cannot read secret file {name}: {e.strerror}")
                return ""
        return _REF.sub(sub, value)
    return value


_NAMES_ITS_PATH = re.compile(r"[a-z_]+(?:\.[\w-]+|\[\d+\])*: ")


def _format_validation(err: ValidationError) -> list[str]:
    out = []
    for e in err.errors():
        loc = ""
        for part in e["loc"]:
            loc += f"[{part}]" if isinstance(part, int) else (f".{part}" if loc else str(part))
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            msg = "unknown key"
        elif msg.startswith("Value error, "):
            msg = msg[len("Value error, "):]
        if not loc and _NAMES_ITS_PATH.match(msg):  # a cross-section check names its own field
            out.append(msg)
        else:
            out.append(f"{loc or '(top level)'}: {msg}")
    return out


def parse_config(raw: Any, env: Mapping[str, str] | None = None, *, offline: bool = False) -> BastionConfig:
    """`offline`: the caller never contacts a provider, so provider secrets that are not available
    (an unset variable, an unreadable file) are not errors (`bastion keys`, `usage`, `audit`)."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(["(top level): must be a mapping of sections"])
    errors: list[str] = []
    resolved = _resolve(raw, "", errors, os.environ if env is None else env, offline)
    if errors:
        raise ConfigError(errors)
    try:
        return BastionConfig.model_validate(resolved)
    except ValidationError as e:
        raise ConfigError(_format_validation(e)) from None


def load_config(path: str | Path | None, env: Mapping[str, str] | None = None, *,
                offline: bool = False) -> BastionConfig:
    """Load `path`, or the built-in default (providers from the environment) when None.
    `offline`: see parse_config."""
    if path is None:
        return parse_config(default_config_dict(os.environ if env is None else env), env, offline=offline)
    try:
        text = Path(path).read_text()
    except OSError as e:
        raise ConfigError([f"{path}: cannot read: {e.strerror}"]) from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError([f"{path}: invalid YAML{where}: {getattr(e, 'problem', e)}"]) from None
    return parse_config(raw, env, offline=offline)


def default_config_dict(env: Mapping[str, str]) -> dict[str, Any]:
    """The embedded default: SQLite store, in-process counters, providers found in the env."""
    providers: dict[str, Any] = {}
    models: list[dict[str, Any]] = []
    if env.get("OPENAI_API_KEY"):
        providers["openai"] = {"kind": "openai", "base_url": env.get("OPENAI_BASE_URL", "https://api.openai.com/v1"),
                               "api_key": "${env:OPENAI_API_KEY}"}
        for m in ("gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini", "gpt-5", "gpt-5-mini"):
            models.append({"name": m, "targets": [{"provider": "openai", "model": m}]})
        models.append({"name": "text-embedding-3-small", "kind": "embeddings",
                       "targets": [{"provider": "openai", "model": "text-embedding-3-small"}]})
    if env.get("ANTHROPIC_API_KEY"):
        providers["anthropic"] = {"kind": "anthropic",
                                  "base_url": env.get("ANTHROPIC_BASE_URL", "https://api.anthropic.com"),
                                  "api_key": "${env:ANTHROPIC_API_KEY}"}
        for m in ("claude-sonnet-4-6", "claude-haiku-4-5", "claude-opus-4-6"):
            models.append({"name": m, "targets": [{"provider": "anthropic", "model": m}]})
    providers["local"] = {"kind": "openai_compatible", "base_url": env.get("BASTION_LOCAL_URL", OLLAMA_URL)}
    local_models = ("llama3.2", "qwen2.5")
    for m in local_models:
        models.append({"name": m, "targets": [{"provider": "local", "model": m}]})
    # Local models cost nothing per token; an explicit 0 price says so (unknown prices are errors).
    pricing = {m: {"input_per_mtok": 0, "output_per_mtok": 0} for m in local_models}
    server: dict[str, Any] = {}
    if env.get("BASTION_ADMIN_KEY"):
        server["admin_key"] = "${env:BASTION_ADMIN_KEY}"
    return {"server": server, "store": {"url": env.get("BASTION_STORE_URL", "sqlite:///bastion.db")},
            "providers": providers, "models": models, "pricing": pricing}


_CONFIG_ENV = "BASTION_CONFIG"


def export_config_path(path: str | None) -> None:
    """Hand the config path to worker processes (uvicorn's factory mode)."""
    if path:
        os.environ[_CONFIG_ENV] = str(Path(path).resolve())
    else:
        os.environ.pop(_CONFIG_ENV, None)


def load_exported_config() -> BastionConfig:
    return load_config(os.environ.get(_CONFIG_ENV))
