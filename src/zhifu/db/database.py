"""A pool of async psycopg connections and the one way to run a unit of work.

`Database.transaction(work)` runs `work(conn)` inside a transaction and retries it
when PostgreSQL reports a deadlock or a serialization failure, so those never surface
to a user. Work must therefore be free of side effects outside the database.

When the server goes away (`lost`), work is refused at once with ServiceUnavailable
instead of waiting for a connection that cannot come; `regained` opens a fresh pool.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import psycopg
from psycopg import errors as pg_errors
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from zhifu.errors import ServiceUnavailable

T = TypeVar("T")
Conn = psycopg.AsyncConnection[Any]

RETRYABLE = (
    pg_errors.DeadlockDetected,
    pg_errors.SerializationFailure,
    pg_errors.LockNotAvailable,
)
MAX_ATTEMPTS = 20


def is_retryable(error: BaseException) -> bool:
    return isinstance(error, RETRYABLE)


class Database:
    def __init__(self, url: str, *, min_size: int = 2, max_size: int = 20) -> None:
        self.url = url
        self.sizes = (min_size, max_size)
        self.pool = self._new_pool()
        self.reachable = True

    def _new_pool(self) -> AsyncConnectionPool[Conn]:
        return AsyncConnectionPool(
            self.url,
            min_size=self.sizes[0],
            max_size=self.sizes[1],
            open=False,
            kwargs={"autocommit": True, "row_factory": dict_row},
        )

    async def open(self) -> None:
        await self.pool.open(wait=True, timeout=30)

    async def lost(self) -> None:
        """The server died: refuse work from now on, and throw away the pool, whose
        connections died with it (callers waiting for one get ServiceUnavailable)."""
        self.reachable = False
        dead, self.pool = self.pool, self._new_pool()
        await dead.close(timeout=1)

    async def regained(self) -> None:
        """The server is back: connect afresh and accept work again."""
        await self.pool.open(wait=True, timeout=30)
        self.reachable = True

    async def ping(self, within: float) -> None:
        """Raise ServiceUnavailable unless the database answers within `within` seconds."""
        try:
            async with asyncio.timeout(within), self.connection(wait=within) as conn:
                await conn.execute("select 1")
        except TimeoutError as error:
            raise ServiceUnavailable("the database does not answer") from error

    async def close(self) -> None:
        await self.pool.close()

    async def __aenter__(self) -> Database:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @asynccontextmanager
    async def connection(self, wait: float | None = None) -> AsyncIterator[Conn]:
        """A connection from the pool, waited for up to `wait` seconds (the pool's 30 s
        by default); ServiceUnavailable if none comes or the database is unreachable."""
        if not self.reachable:
            raise ServiceUnavailable("the database is unreachable")
        try:
            async with self.pool.connection(wait) as conn:
                yield conn
        except psycopg.OperationalError as error:
            # Deadlocks and serialization failures are OperationalErrors too: leave them
            # to `transaction`, which retries them.
            if is_retryable(error):
                raise
            raise ServiceUnavailable("the database is unreachable") from error

    async def transaction(self, work: Callable[[Conn], Awaitable[T]]) -> T:
        """Run `work` in one transaction, retrying it on deadlock or serialization failure."""
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                async with self.connection() as conn, conn.transaction():
                    return await work(conn)
            except RETRYABLE:
                if attempt == MAX_ATTEMPTS:
                    raise
                await asyncio.sleep(random.uniform(0, 0.002 * attempt))
        raise AssertionError("unreachable")

    async def fetch_all(self, query: str, params: Any = None) -> list[dict[str, Any]]:
        async with self.connection() as conn:
            cur = await conn.execute(query, params)
            return await cur.fetchall()

    async def fetch_one(self, query: str, params: Any = None) -> dict[str, Any] | None:
        async with self.connection() as conn:
            cur = await conn.execute(query, params)
            return await cur.fetchone()
