"""Wiring: the database (embedded or external), migrations, and the services on top.

`Runtime.start(settings)` is what `zhifu serve` and every CLI command use, so they all
reach the same database: with no database URL, the embedded server in the data
directory (joined if another zhifu process already runs it).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from zhifu.clock import Clock, SystemClock
from zhifu.config import Settings
from zhifu.db import Database
from zhifu.db.embedded import start_embedded, stop_embedded
from zhifu.db.migrate import upgrade
from zhifu.ledger import Ledger

# A background job: a name, how often it runs (seconds), and the work (returns a count).
Job = tuple[str, float, Callable[[], Awaitable[int]]]


async def resolve_database_url(settings: Settings) -> str:
    if settings.database_url:
        return settings.database_url
    return await asyncio.to_thread(start_embedded, settings.data_dir)


@dataclass
class Runtime:
    settings: Settings
    db: Database
    clock: Clock
    ledger: Ledger
    jobs: list[Job] = field(default_factory=list)

    @classmethod
    async def start(
        cls, settings: Settings, *, clock: Clock | None = None, migrate: bool = True
    ) -> Runtime:
        url = await resolve_database_url(settings)
        if migrate:
            await asyncio.to_thread(upgrade, url)
        db = Database(url)
        await db.open()
        clock = clock or SystemClock()
        runtime = cls(settings=settings, db=db, clock=clock, ledger=Ledger(db, clock))
        runtime.jobs.append(("expire-holds", 1.0, runtime.ledger.expire_due_holds))
        return runtime

    async def close(self) -> None:
        await self.ledger.close()
        await self.db.close()
        if not self.settings.database_url:
            await asyncio.to_thread(stop_embedded, self.settings.data_dir)
