"""The audit checkpoint lines survive a quiet log_level: they witness the chain heads outside the store."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import orjson
import pytest

from bastion.config.audit import ObservabilityConfig
from bastion.observability.logging import setup_logging


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    audit_level = logging.getLogger("bastion.audit").level
    yield
    for h in list(root.handlers):
        if h not in handlers:
            root.removeHandler(h)
    root.setLevel(level)
    logging.getLogger("bastion.audit").setLevel(audit_level)


@pytest.mark.parametrize("level", ["warning", "error"])
def test_checkpoint_lines_are_logged_at_a_quiet_level(restore_logging: None, level: str) -> None:
    out = io.StringIO()
    setup_logging(ObservabilityConfig(log_level=level), stream=out)
    logging.getLogger("bastion.audit").info("audit checkpoint writer_id=%s seq=%d hash=%s signed=%s",
                                            "w-1", 5, "ab" * 32, True)
    logging.getLogger("bastion.cost").info("an ordinary info line")
    lines = [orjson.loads(x) for x in out.getvalue().splitlines()]
    assert [x["msg"] for x in lines] == [f"audit checkpoint writer_id=w-1 seq=5 hash={'ab' * 32} signed=True"]


def test_debug_level_still_reaches_the_audit_logger(restore_logging: None) -> None:
    out = io.StringIO()
    setup_logging(ObservabilityConfig(log_level="debug"), stream=out)
    assert logging.getLogger("bastion.audit").isEnabledFor(logging.DEBUG)
