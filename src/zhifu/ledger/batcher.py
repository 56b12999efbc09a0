"""Group concurrent ledger commands into one database transaction.

Callers `submit` a command and await its own Outcome. A few flushers take whatever has
queued (up to `max_size`) and apply it with one `engine.apply`, so under load each commit
carries many transfers and costs one WAL flush. Each command is still decided on its own,
in arrival order, and a caller is only answered after its batch has committed: every
acknowledged transfer is durable.

Batches overlap: when a flusher finds others idle it takes only its share of the queue,
and the next batch starts as soon as the previous one holds its row locks. So one batch
is being decided and committed while the next is being claimed and locked, and the
database and this process work at the same time. Arrival order survives the overlap:
a batch locks its rows only after every earlier batch holds its own, so a later batch
touching the same accounts waits for the earlier one to commit before it decides.

The batcher is a performance device only. Correctness rests on the row locks inside
`apply`, so any number of processes may each run their own batcher on one database.
"""

from __future__ import annotations

import asyncio
import math

from zhifu.clock import Clock
from zhifu.db.database import Database
from zhifu.ledger import engine
from zhifu.ledger.commands import Command, Outcome
from zhifu.metrics import LEDGER_BATCH_SIZE

_Item = tuple[Command, "asyncio.Future[Outcome]"]


class Batcher:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        *,
        max_size: int = 1000,
        flushers: int = 2,
        min_share: int = 16,
    ) -> None:
        self.db = db
        self.clock = clock
        self.max_size = max_size
        self.flushers = flushers
        # A queue is only shared out among idle flushers in portions of at least this.
        self.min_share = min_share
        self._queue: list[_Item] = []
        self._arrived = asyncio.Event()
        self._turn = asyncio.Lock()  # held by the batch that has yet to lock its rows
        self._busy = 0
        self._tasks: list[asyncio.Task[None]] = []
        self.batches = 0
        self.commands = 0

    async def submit(self, command: Command) -> Outcome:
        self._start()
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._queue.append((command, future))
        self._arrived.set()
        return await future

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
            while not self._queue:
                self._arrived.clear()
                await self._arrived.wait()
            await self._turn.acquire()
            taken = self._take()
            if not taken:
                self._turn.release()
                continue
            self._busy += 1
            try:
                await self._flush(taken)
            finally:
                self._busy -= 1

    def _take(self) -> list[_Item]:
        """This flusher's share of the queue: all of it, or an equal part of it when other
        flushers are idle and the queue is long enough to be worth sharing."""
        idle = max(1, self.flushers - self._busy)
        size = min(self.max_size, max(self.min_share, math.ceil(len(self._queue) / idle)))
        taken, self._queue = self._queue[:size], self._queue[size:]
        if self._queue:
            self._arrived.set()
        return taken

    async def _flush(self, taken: list[_Item]) -> None:
        """Apply a batch; pass the turn on once it holds its locks (or once it failed)."""
        released = False

        def locked() -> None:
            nonlocal released
            if not released:
                released = True
                self._turn.release()

        commands = [command for command, _ in taken]
        try:
            outcomes = await self.db.transaction(
                lambda conn: engine.apply(conn, commands, self.clock.now(), on_locked=locked)
            )
        except Exception as error:
            locked()
            if len(taken) > 1:
                # Something no refusal explains (a database error): isolate it by applying
                # each command on its own, so one poisoned command cannot fail the others.
                for item in taken:
                    await self._flush_alone(item)
                return
            for _, future in taken:
                if not future.done():
                    future.set_exception(error)
            return
        finally:
            locked()
        self._answer(taken, outcomes)

    async def _flush_alone(self, item: _Item) -> None:
        command, future = item
        try:
            outcomes = await self.db.transaction(
                lambda conn: engine.apply(conn, [command], self.clock.now())
            )
        except Exception as error:
            if not future.done():
                future.set_exception(error)
            return
        self._answer([item], outcomes)

    def _answer(self, taken: list[_Item], outcomes: list[Outcome]) -> None:
        self.batches += 1
        self.commands += len(taken)
        LEDGER_BATCH_SIZE.observe(len(taken))
        for (_, future), outcome in zip(taken, outcomes, strict=True):
            if not future.done():
                future.set_result(outcome)
