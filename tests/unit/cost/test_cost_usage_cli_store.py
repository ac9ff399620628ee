"""`bastion usage` run where no store is: an error, never an empty store reporting zero usage."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from bastion.cli import usage as cli_usage


def test_a_missing_sqlite_store_is_an_error_not_zero_usage(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # the built-in default store is sqlite:///bastion.db, relative to here
    parser = argparse.ArgumentParser()
    cli_usage.register(parser.add_subparsers())
    args = parser.parse_args(["usage"])
    assert args.func(args) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and "run this where the gateway runs" in err
    assert not (tmp_path / "bastion.db").exists()  # nothing created
