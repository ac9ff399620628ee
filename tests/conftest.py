"""Shared fixtures: the fake upstream, a running gateway, and service availability checks."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from tests.fakes.upstream import FakeUpstream
from tests.gateway import Gateway, base_config

pytest_plugins = ["tests.fakes.fixtures"]

IN_CI = os.environ.get("CI") == "true"

# Property tests check results, never time: hypothesis's per-example deadline (200 ms) failed tests that
# were right whenever the host was loaded (a C-path audit test took 1,020 ms beside a valgrind run).
settings.register_profile("bastion", deadline=None)
settings.load_profile("bastion")


def _reachable(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def require_service(name: str, port: int) -> None:
    """Skip (locally) or fail (CI=true) when a service a test needs is not running."""
    if _reachable(port):
        return
    msg = f"{name} is not reachable on 127.0.0.1:{port}"
    if IN_CI:
        pytest.fail(msg + " (CI=true: services must be running; see .ci/run)")
    pytest.skip(msg)


@pytest.fixture
def postgres_url() -> str:
    require_service("PostgreSQL", 5432)
    return "postgresql://postgres@127.0.0.1:5432/test"


@pytest.fixture
def pg_schema_url(postgres_url: str) -> Iterator[str]:
    """A private schema of the test database, so a test's tables collide with nobody's."""
    import asyncio
    import uuid

    import asyncpg

    schema = f"bastion_t_{uuid.uuid4().hex[:12]}"

    async def execute(sql: str) -> None:
        conn = await asyncpg.connect(postgres_url, timeout=5)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(execute(f"CREATE SCHEMA {schema}"))
    try:
        yield f"{postgres_url}?search_path={schema}"
    finally:
        asyncio.run(execute(f"DROP SCHEMA {schema} CASCADE"))


@pytest.fixture
def redis_url() -> str:
    require_service("Redis", 6379)
    return "redis://127.0.0.1:6379/0"


@pytest.fixture(scope="module")
def module_tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("gw")


@pytest.fixture(scope="module")
def gateway(fake_upstream_server: FakeUpstream, module_tmp: Path) -> Iterator[Gateway]:
    """A gateway with the default test config, shared by a test module."""
    gw = Gateway(base_config(fake_upstream_server.url, module_tmp), module_tmp)
    gw.start()
    yield gw
    gw.stop()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Integration tests drive the gateway subprocess through SDK clients that tests do not
    # always close; an unclosed *client* socket there is not a gateway leak (the gateway's own
    # leaks are checked by counting its connections/tasks in the fault-injection suite).
    for item in items:
        if "tests/integration/" in str(item.path).replace("\\", "/"):
            item.add_marker(pytest.mark.filterwarnings("ignore::ResourceWarning"))
            item.add_marker(pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"))
