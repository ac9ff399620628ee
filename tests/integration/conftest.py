"""Integration-test hygiene: collect SDK clients a test left open while its warning filters apply."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True, scope="module")
def _collect_unclosed_clients() -> Iterator[None]:
    yield
    gc.collect()
