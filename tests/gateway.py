"""Runs the real gateway (`bastion serve`, uvicorn) as a subprocess on a free port, for tests."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

ADMIN_KEY = "adm_test_0123456789abcdef0123456789"
PROVIDER_OPENAI_KEY = "sk-proj-TESTPROVIDERKEY0123456789abcdefABCDEF"
PROVIDER_ANTHROPIC_KEY = "sk-ant-api03-TESTPROVIDERKEY0123456789abcdefABCDEF"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def base_config(upstream_url: str, tmp: Path, **sections: Any) -> dict[str, Any]:
    """A config with every provider kind pointing at the fake upstream."""
    cfg: dict[str, Any] = {
        "server": {"admin_key": ADMIN_KEY, "key_cache_ttl_seconds": 1.0},
        "store": {"url": f"sqlite:///{tmp / 'bastion.db'}"},
        "providers": {
            "openai": {"kind": "openai", "base_url": f"{upstream_url}/v1", "api_key": PROVIDER_OPENAI_KEY,
                       "retry": {"attempts": 2, "backoff_base": 0.01, "backoff_max": 0.05},
                       "timeouts": {"connect": 2, "first_byte": 5, "idle": 5, "total": 10}},
            "anthropic": {"kind": "anthropic", "base_url": upstream_url, "api_key": PROVIDER_ANTHROPIC_KEY,
                          "retry": {"attempts": 2, "backoff_base": 0.01, "backoff_max": 0.05},
                          "timeouts": {"connect": 2, "first_byte": 5, "idle": 5, "total": 10}},
            "local": {"kind": "openai_compatible", "base_url": f"{upstream_url}/v1"},
        },
        "models": [
            {"name": "gpt-4o-mini", "targets": [{"provider": "openai", "model": "gpt-4o-mini"}]},
            {"name": "claude-sonnet-4-6", "targets": [{"provider": "anthropic", "model": "claude-sonnet-4-6"}]},
            {"name": "llama3.2", "targets": [{"provider": "local", "model": "llama3.2"}]},
            {"name": "smart", "targets": [{"provider": "anthropic", "model": "claude-sonnet-4-6"},
                                          {"provider": "openai", "model": "gpt-4o"}]},
            {"name": "text-embedding-3-small", "kind": "embeddings",
             "targets": [{"provider": "openai", "model": "text-embedding-3-small"}]},
        ],
        "pricing": {"llama3.2": {"input_per_mtok": 0, "output_per_mtok": 0}},
    }
    for k, v in sections.items():
        if isinstance(v, dict) and isinstance(cfg.get(k), dict):
            cfg[k] = {**cfg[k], **v}
        else:
            cfg[k] = v
    return cfg


class Gateway:
    def __init__(self, config: dict[str, Any], tmp: Path, name: str = "gw",
                 env: dict[str, str] | None = None) -> None:
        self.config = config
        self.tmp = tmp
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config_path = tmp / f"{name}.yaml"
        self.log_path = tmp / f"{name}.log"
        self.env = env or {}
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> Gateway:
        self.config_path.write_text(yaml.safe_dump(self.config))
        env = {**os.environ, **self.env}
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bastion.cli.main", "serve", "--config", str(self.config_path),
             "--port", str(self.port), "--host", "127.0.0.1"],
            stdout=self._log, stderr=subprocess.STDOUT, env=env, cwd=str(self.tmp))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self._log.close()
                self.proc = None
                raise RuntimeError(f"gateway exited:\n{self.logs()}")
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=1) as r:
                    if r.status == 200:
                        return self
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"gateway did not become healthy:\n{self.logs()}")

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        rc = self.proc.returncode
        self.proc = None
        return rc

    # ---- admin helpers ---------------------------------------------------------------
    def admin(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"{self.url}{path}", data=data, method=method,
                                     headers={"authorization": f"Bearer {ADMIN_KEY}",
                                              "content-type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                raw = r.read()
                return r.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as e:
            raw = e.read()
            return e.code, json.loads(raw) if raw else None

    def create_key(self, **fields: Any) -> str:
        fields.setdefault("name", "test-app")
        status, body = self.admin("POST", "/admin/keys", fields)
        assert status == 201, (status, body)
        key: str = body["key"]
        return key

    def __enter__(self) -> Gateway:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
