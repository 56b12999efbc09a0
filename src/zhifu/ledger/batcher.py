"""Group concurrent ledger commands into one database transaction.

Callers `submit` a command and await its own Outcome. A few flushers take whatever has
queued (up to `max_size`) and apply it with one `engine.apply`: while one batch commits,
the next gathers, so under load each commit carries many transfers and costs one WAL
flush. Each command is still decided on its own, in arrival order, and a caller is only
answered after its batch has committed: every acknowledged transfer is durable.

The batcher is a performance device only. Correctness rests on the row locks inside
`apply`, so any number of processes may each run their own batcher on one database.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from zhifu.clock import Clock
from zhifu.db.database import Database
from zhifu.ledger import engine
from zhifu.ledger.commands import Command, Outcome
from zhifu.metrics import LEDGER_BATCH_SIZE


class Batcher:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        *,
        max_size: int = 1000,
        window_ms: float = 0.0,
        flushers: int = 2,
    ) -> None:
        self.db = db
        self.clock = clock
        self.max_size = max_size
        self.window = window_ms / 1000
        self.flushers = flushers
        self._queue: list[tuple[Command, asyncio.Future[Outcome]]] = []
        self._ready = asyncio.Condition()
        self._tasks: list[asyncio.Task[None]] = []
        self.batches = 0
        self.commands = 0

    async def submit(self, command: Command) -> Outcome:
        return (await self.submit_many([command]))[0]

    async def submit_many(self, commands: Sequence[Command]) -> list[Outcome]:
        self._start()
        loop = asyncio.get_running_loop()
        futures = [loop.create_future() for _ in commands]
        async with self._ready:
            self._queue.extend(zip(commands, futures, strict=True))
            self._ready.notify()
        return list(await asyncio.gather(*futures))

    def _start(self) -> None:
        if not self._tasks:
            self._tasks = [asyncio.create_task(self._flush_forever()) for _ in range(self.flushers)]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    async def _flush_forever(self) -> None:
        while True:
            async with self._ready:
                await self._ready.wait_for(lambda: bool(self._queue))
            if self.window and len(self._queue) < self.max_size:
                await asyncio.sleep(self.window)
            async with self._ready:
                taken, self._queue = self._queue[: self.max_size], self._queue[self.max_size :]
                if self._queue:
                    self._ready.notify()
            if taken:
                await self._flush(taken)

    async def _flush(self, taken: list[tuple[Command, asyncio.Future[Outcome]]]) -> None:
        commands = [command for command, _ in taken]
        try:
            outcomes = await self._apply(commands)
        except Exception as error:
            if len(taken) > 1:
                # Something no refusal explains (a database error): isolate it by applying
                # each command on its own, so one poisoned command cannot fail the others.
                for item in taken:
                    await self._flush([item])
                return
            for _, future in taken:
                if not future.done():
                    future.set_exception(error)
            return
        self.batches += 1
        self.commands += len(commands)
        LEDGER_BATCH_SIZE.observe(len(commands))
        for (_, future), outcome in zip(taken, outcomes, strict=True):
            if not future.done():
                future.set_result(outcome)

    async def _apply(self, commands: list[Command]) -> list[Outcome]:
        return await self.db.transaction(
            lambda conn: engine.apply(conn, commands, self.clock.now())
        )
