"""A SQLite store in a directory that does not exist is a config error naming store.url."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bastion.app import validate_semantics
from bastion.config.loader import parse_config


def test_missing_sqlite_directory_names_the_field(tmp_path: Path) -> None:
    cfg = parse_config({"store": {"url": f"sqlite:///{tmp_path}/no/such/dir/bastion.db"}})
    problems = validate_semantics(cfg)
    assert any(p.startswith("store.url: the directory ") and "/no/such/dir" in p for p in problems), problems
    ok = parse_config({"store": {"url": f"sqlite:///{tmp_path}/bastion.db"}})
    assert not any(p.startswith("store.url") for p in validate_semantics(ok))


def test_serve_refuses_it_with_exit_2_and_no_traceback(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(f'store: {{url: "sqlite:///{tmp_path}/missing/bastion.db"}}\n')
    r = subprocess.run([sys.executable, "-m", "bastion.cli.main", "serve", "--config", str(config), "--port", "0"],
                       capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert r.returncode == 2, (r.returncode, r.stderr[-500:])
    assert "store.url: the directory" in r.stderr and "Traceback" not in r.stderr
