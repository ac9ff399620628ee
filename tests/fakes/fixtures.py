"""Pytest fixtures for the fake upstream; register with `pytest_plugins = ["tests.fakes.fixtures"]`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.upstream import FakeUpstream


@pytest.fixture(scope="session")
def fake_upstream_server() -> Iterator[FakeUpstream]:
    """One fake upstream server for the whole session (starting one costs a thread and a port)."""
    with FakeUpstream() as fake:
        yield fake


@pytest.fixture
def fake_upstream(fake_upstream_server: FakeUpstream) -> Iterator[FakeUpstream]:
    """The session's fake upstream, reset before and after each test.

    The test fails if the fake hit an internal error (e.g. a Reply it could not render), so a
    broken script never passes silently.
    """
    fake_upstream_server.reset()
    yield fake_upstream_server
    errors = list(fake_upstream_server.errors)
    fake_upstream_server.reset()
    if errors:
        pytest.fail(f"fake upstream internal errors: {errors}")
