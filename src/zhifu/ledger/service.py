"""The ledger's service: what other modules call to move and read money."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from zhifu.clock import Clock
from zhifu.db.database import Conn, Database
from zhifu.db.due import Job
from zhifu.ledger import engine
from zhifu.ledger.batcher import Batcher
from zhifu.ledger.commands import Command, Outcome, VoidHold
from zhifu.ledger.invariants import Report, verify


class Ledger:
    """Entry points to the engine, each in a transaction of its own.

    Modules that must change their own tables together with money call
    `engine.apply(conn, commands, now)` inside their own transaction instead.
    """

    def __init__(self, db: Database, clock: Clock, *, batch_max_size: int = 1000) -> None:
        self.db = db
        self.clock = clock
        self.batcher = Batcher(db, clock, max_size=batch_max_size)

    async def execute(self, command: Command) -> dict[str, Any]:
        """Apply one command in its own transaction; raise the refusal, if any."""
        outcomes = await self.execute_many([command])
        return outcomes[0].unwrap()

    async def execute_many(self, commands: Sequence[Command]) -> list[Outcome]:
        """The bulk path: many commands in one transaction, each decided in order."""
        return await self.db.transaction(
            lambda conn: engine.apply(conn, commands, self.clock.now())
        )

    async def submit(self, command: Command) -> Outcome:
        """The batched path: applied together with concurrent submissions."""
        return await self.batcher.submit(command)

    def jobs(self) -> list[Job]:
        return [("expire-holds", 1.0, self.expire_due_holds)]

    async def expire_due_holds(self, limit: int = 500) -> int:
        """Release pending holds whose deadline has passed; return how many."""

        async def work(conn: Conn) -> int:
            cur = await conn.execute(
                """
                select id from ledger_hold where state = 'pending' and expires_at <= %s
                order by id limit %s for update skip locked
                """,
                (self.clock.now(), limit),
            )
            ids = [row["id"] for row in await cur.fetchall()]
            commands = [VoidHold(hold_id, expired=True) for hold_id in ids]
            outcomes = await engine.apply(conn, commands, self.clock.now())
            return sum(1 for outcome in outcomes if outcome.accepted)

        return await self.db.transaction(work)

    async def verify(self) -> Report:
        async with self.db.connection() as conn:
            return await verify(conn)

    async def close(self) -> None:
        await self.batcher.close()
