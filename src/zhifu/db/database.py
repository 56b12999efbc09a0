"""A pool of async psycopg connections and the one way to run a unit of work.

`Database.transaction(work)` runs `work(conn)` inside a transaction and retries it
when PostgreSQL reports a deadlock or a serialization failure, so those never surface
to a user. Work must therefore be free of side effects outside the database.
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
        self.pool = AsyncConnectionPool(
            url,
            min_size=min_size,
            max_size=max_size,
            open=False,
            kwargs={"autocommit": True, "row_factory": dict_row},
        )

    async def open(self) -> None:
        await self.pool.open(wait=True, timeout=30)

    async def close(self) -> None:
        await self.pool.close()

    async def __aenter__(self) -> Database:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Conn]:
        try:
            async with self.pool.connection() as conn:
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
