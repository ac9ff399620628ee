"""Bastion configurations for the bench, fitted to the config schema installed right now.

`min`: auth + routing only (no policies, no limits, audit and access log off where the schema lets).
`full`: a default policy scanning input and output, rate limits, a cost guard with budgets, async audit.
`redis`: `full` with `limits.backend: redis` (REDIS_URL, a key prefix of its own per start).
Each feature section is added only if the installed schema (and start-up semantics) accept it; what
was dropped and why is reported. Which features are actually *effective* is probed at run time.
"""

from __future__ import annotations

import copy
import os
import sqlite3
import time
from pathlib import Path
from typing import Any

ADMIN_KEY = "adm_bench_0123456789abcdef0123456789"
BIG = 1_000_000_000
REDIS_URL = "redis://127.0.0.1:6379/0"
REDIS_START = 'redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no'
FULL_PROFILES = ("full", "redis")  # profiles with every feature on (keys get FULL_KEY_FIELDS)
REDIS_PREFIXES: list[str] = []  # every prefix handed out, dropped from Redis when the bench ends
STORE_URL: list[str] = []  # set by `run.py --store-url`: every Bastion uses this store, not a SQLite file

# (alias, provider suffix, upstream model) — suffix picks the fake upstream's path prefix.
OPENAI_MODELS = [("gpt-4o-mini", "", "gpt-4o-mini"), ("bench-stream", "stream", "gpt-4o-mini"),
                 ("bench-burst", "burst", "gpt-4o-mini"),
                 ("bench-paced", "paced", "gpt-4o-mini"), ("bench-long", "long", "gpt-4o-mini")]
ANTHROPIC_MODELS = [("claude-sonnet-4-5", "", "claude-sonnet-4-5"),
                    ("bench-claude-stream", "stream", "claude-sonnet-4-5"),
                    ("bench-claude-paced", "paced", "claude-sonnet-4-5")]

DEFAULT_POLICY: dict[str, Any] = {
    "input": [{"scanner": "secrets", "action": "block"}, {"scanner": "pii", "action": "redact"},
              {"scanner": "injection", "action": "block"}],
    "output": [{"scanner": "secrets", "action": "block"}, {"scanner": "pii", "action": "redact"}],
}
FEATURES: dict[str, dict[str, Any]] = {
    "policy": {"policies": {"default": DEFAULT_POLICY}},
    "limits": {"limits": {"backend": "memory", "default": {"rpm": BIG, "tpm": BIG * 1000, "max_parallel": 100000}}},
    "cost": {"teams": {"bench": {"rpm": BIG, "tpm": BIG * 1000,
                                 "budgets": [{"usd": 1_000_000.0, "period": "month"}]}}},
    "audit": {"audit": {"enabled": True, "mode": "async"},
              "observability": {"metrics": True, "access_log": True}},
}
MIN_SECTIONS: dict[str, Any] = {"policies": {"default": {}}, "audit": {"enabled": False},
                                "observability": {"metrics": False, "access_log": False}}
FULL_KEY_FIELDS: dict[str, Any] = {"team": "bench", "rpm": BIG, "tpm": BIG * 1000, "budget_usd": 1_000_000.0,
                                   "budget_period": "month"}


def base_config(upstream: str, db: Path) -> dict[str, Any]:
    providers: dict[str, Any] = {}
    models: list[dict[str, Any]] = []
    for kind, table, root in (("openai", OPENAI_MODELS, "/v1"), ("anthropic", ANTHROPIC_MODELS, "")):
        for alias, suffix, upstream_model in table:
            name = f"{kind}_{suffix}" if suffix else kind
            prefix = f"/{suffix}" if suffix else ""
            providers[name] = {"kind": kind, "base_url": f"{upstream}{prefix}{root}",
                               "api_key": f"sk-bench-{kind}-0123456789abcdef0123456789"}
            models.append({"name": alias, "targets": [{"provider": name, "model": upstream_model}]})
    return {"server": {"admin_key": ADMIN_KEY}, "store": {"url": STORE_URL[0] if STORE_URL else f"sqlite:///{db}"},
            "providers": providers, "models": models}


def _schema_problems(cfg: dict[str, Any]) -> list[str]:
    """What the installed schema and start-up semantics say about cfg (empty = accepted)."""
    from bastion.config.schema import BastionConfig

    try:
        parsed = BastionConfig.model_validate(cfg)
    except Exception as e:  # pydantic ValidationError or a loader error: report, do not crash
        return [str(e).splitlines()[0] + ": " + " | ".join(str(e).splitlines()[1:4])]
    try:
        from bastion.app import validate_semantics

        return list(validate_semantics(parsed))
    except Exception as e:
        return [f"validate_semantics failed: {type(e).__name__}: {e}"]


def _buildable_scanners(rules: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[str]]:
    """Keep the scanner rules the installed registry can build; say why others were dropped."""
    try:
        from bastion.policy.registry import default_registry

        reg = default_registry()
    except Exception:
        return rules, []
    kept, dropped = [], []
    for rule in rules:
        opts = {k: v for k, v in rule.items() if k not in ("scanner", "action", "on_error", "restore", "budget_ms")}
        try:
            reg.create(rule["scanner"], opts)
            kept.append(rule)
        except Exception as e:
            dropped.append(f"scanner {rule['scanner']}: {type(e).__name__}: {str(e)[:120]}")
    return kept, dropped


def _builtin_policy() -> str | None:
    """The gateway's own default policy (applies when the config names none), summarised."""
    try:
        from bastion.config.policy import DEFAULT_POLICY
    except ImportError:
        return None

    def side(rules: Any) -> str:
        return ", ".join(f"{r.scanner} {r.action}" for r in rules)

    return f"input [{side(DEFAULT_POLICY.input)}], output [{side(DEFAULT_POLICY.output)}]"


def redis_prefix() -> str:
    """A Redis key prefix no other bench start uses (counters of earlier runs must not leak in)."""
    prefix = f"bastion-bench:{os.getpid()}:{time.monotonic_ns()}:"
    REDIS_PREFIXES.append(prefix)
    return prefix


def redis_problem(url: str = REDIS_URL) -> str | None:
    """None when Redis answers PING at url; else what is wrong and how to start it."""
    try:
        import redis

        client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        try:
            client.ping()
        finally:
            client.close()
        return None
    except Exception as e:
        return f"Redis at {url} does not answer ({type(e).__name__}); start it: {REDIS_START}"


def redis_pid(url: str = REDIS_URL) -> int | None:
    """The Redis server's process id (its CPU is part of what the Redis backend costs), if local."""
    try:
        import redis

        client = redis.Redis.from_url(url, socket_timeout=2)
        try:
            return int(client.info("server")["process_id"])
        finally:
            client.close()
    except Exception:
        return None


def drop_redis_prefix(prefix: str, url: str = REDIS_URL) -> int:
    """Delete the bench's counters under prefix (budgets would otherwise live for their period)."""
    import redis

    client = redis.Redis.from_url(url, socket_timeout=5)
    try:
        names = list(client.scan_iter(match=prefix + "*", count=1000))
        for i in range(0, len(names), 500):
            client.delete(*names[i:i + 500])
        return len(names)
    finally:
        client.close()


def fit(profile: str, upstream: str, db: Path) -> tuple[dict[str, Any], dict[str, str]]:
    """(config, {feature: status}) for profile `min`, `full` or `redis`, with only what the schema accepts."""
    cfg = base_config(upstream, db)
    notes: dict[str, str] = {}
    wanted = MIN_SECTIONS if profile == "min" else {}
    for section, value in wanted.items():
        trial = {**cfg, section: value}
        problems = _schema_problems(trial)
        if problems:
            notes[f"{section} off"] = "not accepted: " + "; ".join(problems)[:200]
        else:
            cfg = trial
    if profile in FULL_PROFILES:
        for feature, sections in FEATURES.items():
            sections = copy.deepcopy(sections)
            if feature == "limits" and profile == "redis":
                sections["limits"].update(backend="redis", redis_url=REDIS_URL, redis_key_prefix=redis_prefix())
            builtin = _builtin_policy()
            if feature == "policy" and builtin is not None:
                notes["policy"] = "built-in default policy: " + builtin
                continue
            if feature == "policy":
                for side in ("input", "output"):
                    kept, dropped = _buildable_scanners(sections["policies"]["default"][side])
                    sections["policies"]["default"][side] = kept
                    for d in dropped:
                        notes[f"policy {side}"] = notes.get(f"policy {side}", "") + f"dropped {d}; "
            trial = {**cfg, **sections}
            problems = _schema_problems(trial)
            if problems:
                notes[feature] = "not accepted: " + "; ".join(problems)[:200]
            else:
                cfg = trial
                notes.setdefault(feature, "in config, backend redis" if profile == "redis" and feature == "limits"
                                 else "in config")
    problems = _schema_problems(cfg)
    if problems:
        raise RuntimeError(f"bench config for {profile} is invalid: {problems}")
    return cfg, notes


def store_counts(db: Path) -> dict[str, int]:
    """Rows per table of the sqlite store (audit and usage tables show whether those stages wrote)."""
    if not db.exists():
        return {}
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        names = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {n: int(con.execute(f'SELECT COUNT(*) FROM "{n}"').fetchone()[0]) for n in names}
    finally:
        con.close()
