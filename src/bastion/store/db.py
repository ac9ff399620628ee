"""A small async SQL seam over SQLite (embedded default) and PostgreSQL (replicas).

Callers write SQL with `?` placeholders and portable types; the PostgreSQL implementation
rewrites them to `$1..$n`. Each capability owns its own tables (keys, usage, audit) and
creates them through `migrate`. Foreign exceptions become ServiceUnavailable here.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

from bastion.core.errors import ServiceUnavailable

Row = tuple[Any, ...]
Params = Sequence[Any]


class Database(Protocol):
    dialect: str  # "sqlite" | "postgres"

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement; returns the affected row count."""
        ...

    async def executemany(self, sql: str, rows: Sequence[Params]) -> None: ...

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]: ...

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None: ...

    async def transaction(self, statements: Sequence[tuple[str, Params]]) -> None:
        """Run statements atomically (all or none)."""
        ...

    async def migrate(self, ddl: Sequence[str]) -> None:
        """Idempotent schema creation (CREATE TABLE IF NOT EXISTS ...)."""
        ...

    async def ping(self) -> bool: ...

    async def close(self) -> None: ...


class SqliteDatabase:
    """One connection in WAL mode, used from one dedicated thread (SQLite's natural model)."""

    dialect = "sqlite"

    def __init__(self, path: str) -> None:
        self._path = path
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bastion-sqlite")
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def _connect(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = sqlite3.connect(self._path, check_same_thread=False, isolation_level=None, timeout=10.0)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=10000")
            self._conn = conn
        return self._conn

    async def _run(self, fn: Any, *args: Any) -> Any:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._pool, fn, *args)
        except sqlite3.Error as e:
            raise ServiceUnavailable(f"store error: {type(e).__name__}") from e

    def _execute(self, sql: str, params: Params) -> int:
        return self._connect().execute(sql, tuple(params)).rowcount

    def _executemany(self, sql: str, rows: Sequence[Params]) -> None:
        conn = self._connect()
        conn.execute("BEGIN")
        try:
            conn.executemany(sql, rows)  # each row a sequence already (sqlite3 binds lists and tuples alike)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def _transaction(self, statements: Sequence[tuple[str, Params]]) -> None:
        conn = self._connect()
        conn.execute("BEGIN IMMEDIATE")
        try:
            for sql, params in statements:
                conn.execute(sql, tuple(params))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def _fetchall(self, sql: str, params: Params) -> list[Row]:
        return list(self._connect().execute(sql, tuple(params)).fetchall())

    def _fetchone(self, sql: str, params: Params) -> Row | None:
        row: Row | None = self._connect().execute(sql, tuple(params)).fetchone()
        return row

    def _migrate(self, ddl: Sequence[str]) -> None:
        conn = self._connect()
        for stmt in ddl:
            conn.execute(stmt)

    async def execute(self, sql: str, params: Params = ()) -> int:
        return int(await self._run(self._execute, sql, params))

    async def executemany(self, sql: str, rows: Sequence[Params]) -> None:
        await self._run(self._executemany, sql, rows)

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        rows: list[Row] = await self._run(self._fetchall, sql, params)
        return rows

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        row: Row | None = await self._run(self._fetchone, sql, params)
        return row

    async def transaction(self, statements: Sequence[tuple[str, Params]]) -> None:
        await self._run(self._transaction, statements)

    async def migrate(self, ddl: Sequence[str]) -> None:
        await self._run(self._migrate, ddl)

    async def ping(self) -> bool:
        try:
            await self._run(self._fetchone, "SELECT 1", ())
            return True
        except ServiceUnavailable:
            return False

    async def close(self) -> None:
        def _close() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
        await asyncio.get_running_loop().run_in_executor(self._pool, _close)
        self._pool.shutdown(wait=True)


_QMARK = re.compile(r"\?")


def _to_pg(sql: str) -> str:
    n = 0

    def sub(_: re.Match[str]) -> str:
        nonlocal n
        n += 1
        return f"${n}"
    return _QMARK.sub(sub, sql)


class PostgresDatabase:
    """asyncpg pool; `?` placeholders rewritten to `$n` (statements are cached per text)."""

    dialect = "postgres"

    def __init__(self, url: str, min_size: int = 1, max_size: int = 10) -> None:
        self._url = url
        self._min, self._max = min_size, max_size
        self._pool: Any = None
        self._sql_cache: dict[str, str] = {}

    def _sql(self, sql: str) -> str:
        s = self._sql_cache.get(sql)
        if s is None:
            s = self._sql_cache[sql] = _to_pg(sql)
        return s

    async def _get_pool(self) -> Any:
        if self._pool is None:
            import asyncpg

            try:
                self._pool = await asyncpg.create_pool(self._url, min_size=self._min, max_size=self._max,
                                                       timeout=5.0)
            except (OSError, asyncpg.PostgresError) as e:
                # PostgreSQL's own reason (e.g. 'database "x" does not exist'), which never holds the password
                raise ServiceUnavailable(f"store unreachable (store.url): {type(e).__name__}: {e}"[:300]) from e
        return self._pool

    async def _with(self, method: str, sql: str, *args: Any) -> Any:
        import asyncpg

        pool = await self._get_pool()
        try:
            async with pool.acquire() as conn:
                return await getattr(conn, method)(self._sql(sql), *args)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as e:
            raise ServiceUnavailable(f"store error: {type(e).__name__}") from e

    async def execute(self, sql: str, params: Params = ()) -> int:
        status: str = await self._with("execute", sql, *params)
        tail = status.rsplit(" ", 1)[-1]
        return int(tail) if tail.isdigit() else 0

    async def executemany(self, sql: str, rows: Sequence[Params]) -> None:
        await self._with("executemany", sql, [tuple(r) for r in rows])

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        rows = await self._with("fetch", sql, *params)
        return [tuple(r) for r in rows]

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        r = await self._with("fetchrow", sql, *params)
        return tuple(r) if r is not None else None

    async def transaction(self, statements: Sequence[tuple[str, Params]]) -> None:
        import asyncpg

        pool = await self._get_pool()
        try:
            async with pool.acquire() as conn, conn.transaction():
                for sql, params in statements:
                    await conn.execute(self._sql(sql), *params)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as e:
            raise ServiceUnavailable(f"store error: {type(e).__name__}") from e

    async def migrate(self, ddl: Sequence[str]) -> None:
        # Serialise concurrent replicas creating the same tables.
        await self.transaction([("SELECT pg_advisory_xact_lock(727274)", ())] + [(s, ()) for s in ddl])

    async def ping(self) -> bool:
        try:
            await self._with("fetchval", "SELECT 1")
            return True
        except ServiceUnavailable:
            return False

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            try:
                # A graceful close waits on every connection; one half-open after a network
                # fault must not hang shutdown.
                async with asyncio.timeout(3.0):
                    await pool.close()
            except TimeoutError:
                pool.terminate()


def open_database(url: str) -> Database:
    if url.startswith("sqlite:///"):
        return SqliteDatabase(url[len("sqlite:///"):] or ":memory:")
    return PostgresDatabase(url)
