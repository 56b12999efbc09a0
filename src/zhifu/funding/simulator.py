"""A simulated bank that behaves like a real one, for development, demos and tests.

What it does with a request is decided by the card's last four digits and the amount
(see docs/bank-simulator.md), so a test picks a behaviour by picking a card:

| last four | result                                                              |
|-----------|---------------------------------------------------------------------|
| 0002      | declined: insufficient_funds                                        |
| 0003      | declined: card_blocked                                              |
| 0004      | times out (pending), succeeds after the settle delay                |
| 0005      | succeeds, and the callback is delivered twice                       |
| 0006      | times out (pending), declined do_not_honor after the settle delay   |
| any       | above SINGLE_LIMIT: declined exceeds_bank_limit; otherwise succeeds |

The bank's books are the table `bank_sim_transfer` (not zhifu's ledger): a repeated
reference is answered from them, so the same request never moves money twice, and they
survive a restart. Callbacks are sent by `deliver_callbacks`, a worker job, at least once
per final result; `write_statements` writes each business day's statement as CSV.
"""

from __future__ import annotations

import asyncio
import csv
import io
import os
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from zhifu.clock import BUSINESS_TIMEZONE, Clock, business_day
from zhifu.db.database import Conn, Database
from zhifu.db.due import Job
from zhifu.funding.bank import (
    BankCallback,
    BankRequest,
    BankResult,
    BankStatus,
    ChargeRequest,
    DeclineReason,
    Direction,
    PayoutRequest,
    ReferenceReused,
)
from zhifu.funding.settings import BankSimulatorSettings
from zhifu.logging import get_logger

log = get_logger("zhifu.bank.simulator")

# The simulated bank refuses any single movement above 1,000,000.00.
SINGLE_LIMIT = 100_000_000
CALLBACK_RETRY = timedelta(seconds=5)
STATEMENT_COLUMNS = (
    "date",
    "reference",
    "bank_reference",
    "direction",
    "amount",
    "currency",
    "status",
)
_COLUMNS = (
    "reference, bank_reference, direction, card_token, amount, currency, last4, status, "
    "decline_reason, settle_at, callbacks_due"
)

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Scenario:
    """What the bank will do with a request: its final answer, whether that answer
    comes late (after a timeout), and how many times it is called back."""

    status: BankStatus
    reason: DeclineReason | None = None
    delayed: bool = False
    callbacks: int = 1


MAGIC_CARDS: dict[str, Scenario] = {
    "0002": Scenario(BankStatus.DECLINED, DeclineReason.INSUFFICIENT_FUNDS),
    "0003": Scenario(BankStatus.DECLINED, DeclineReason.CARD_BLOCKED),
    "0004": Scenario(BankStatus.SUCCEEDED, delayed=True),
    "0005": Scenario(BankStatus.SUCCEEDED, callbacks=2),
    "0006": Scenario(BankStatus.DECLINED, DeclineReason.DO_NOT_HONOR, delayed=True),
}
APPROVED = Scenario(BankStatus.SUCCEEDED)
OVER_LIMIT = Scenario(BankStatus.DECLINED, DeclineReason.EXCEEDS_BANK_LIMIT)


def scenario_for(last4: str, amount: int) -> Scenario:
    """The simulator's whole decision, a pure function of the card and the amount."""
    if last4 in MAGIC_CARDS:
        return MAGIC_CARDS[last4]
    return OVER_LIMIT if amount > SINGLE_LIMIT else APPROVED


def _result(row: dict[str, Any]) -> BankResult:
    return BankResult(
        reference=row["reference"],
        status=BankStatus(row["status"]),
        bank_reference=row["bank_reference"],
        decline_reason=row["decline_reason"],
    )


def _same_request(row: dict[str, Any], direction: Direction, request: BankRequest) -> bool:
    return (row["direction"], row["card_token"], row["amount"], row["currency"]) == (
        direction.value,
        request.card_token,
        request.amount,
        request.currency,
    )


def _statement_csv(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(STATEMENT_COLUMNS)
    for row in rows:
        writer.writerow(
            [business_day(row["settled_at"]).isoformat()] + [row[c] for c in STATEMENT_COLUMNS[1:]]
        )
    return out.getvalue()


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".csv.partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(), tzinfo=BUSINESS_TIMEZONE)
    return start, start + timedelta(days=1)


class BankSimulator:
    """A `BankConnector` over the simulator's own tables."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        statements_dir: Path,
        *,
        latency: float = 0.0,
        settle_delay: timedelta = timedelta(seconds=10),
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.db = db
        self.clock = clock
        self.statements_dir = statements_dir
        self.latency = latency
        self.settle_delay = settle_delay
        self._sleep = sleep
        self._handlers: list[BankCallback] = []
        self._closed_days: set[date] = set()

    @classmethod
    def from_settings(
        cls, db: Database, clock: Clock, settings: BankSimulatorSettings, data_dir: Path
    ) -> BankSimulator:
        """The simulator of an installation: statements under <data-dir>/bank/statements."""
        return cls(
            db,
            clock,
            data_dir / "bank" / "statements",
            latency=settings.latency_ms / 1000,
            settle_delay=timedelta(seconds=settings.settle_delay_s),
        )

    def jobs(self) -> list[Job]:
        return [
            ("bank-simulator-callbacks", 0.5, self.deliver_callbacks),
            ("bank-simulator-statements", 60.0, self.write_statements),
        ]

    def on_callback(self, handler: BankCallback) -> None:
        self._handlers.append(handler)

    # The connector.

    async def charge(self, request: ChargeRequest) -> BankResult:
        return await self._receive(Direction.CHARGE, request)

    async def payout(self, request: PayoutRequest) -> BankResult:
        return await self._receive(Direction.PAYOUT, request)

    async def status(self, reference: str) -> BankResult | None:
        await self._sleep(self.latency)

        async def work(conn: Conn) -> BankResult | None:
            row = await self._locked(conn, reference)
            return None if row is None else _result(await self._settle_if_due(conn, row))

        return await self.db.transaction(work)

    async def _receive(self, direction: Direction, request: BankRequest) -> BankResult:
        await self._sleep(self.latency)

        async def work(conn: Conn) -> BankResult:
            row = await self._record(conn, direction, request)
            if row is None:
                row = await self._locked(conn, request.reference)
                assert row is not None
                if not _same_request(row, direction, request):
                    raise ReferenceReused(f"reference {request.reference} has another request")
                row = await self._settle_if_due(conn, row)
            return _result(row)

        return await self.db.transaction(work)

    async def _record(
        self, conn: Conn, direction: Direction, request: BankRequest
    ) -> dict[str, Any] | None:
        """Book a new request as the scenario says; None if its reference is known."""
        plan = scenario_for(request.last4, request.amount)
        now = self.clock.now()
        final = not plan.delayed
        cur = await conn.execute(
            f"""
            insert into bank_sim_transfer (reference, bank_reference, direction, card_token,
                last4, amount, currency, status, decline_reason, received_at, settle_at,
                settled_at, callbacks_due, next_callback_at)
            values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
            on conflict (reference) do nothing
            returning {_COLUMNS}
            """,
            (
                request.reference,
                "SIM" + secrets.token_hex(8).upper(),
                direction.value,
                request.card_token,
                request.last4,
                request.amount,
                request.currency,
                plan.status.value if final else BankStatus.PENDING.value,
                plan.reason.value if final and plan.reason else None,
                now,
                None if final else now + self.settle_delay,
                now if final else None,
                plan.callbacks if final else 0,
                now if final else None,
            ),
        )
        return await cur.fetchone()

    async def _locked(self, conn: Conn, reference: str) -> dict[str, Any] | None:
        cur = await conn.execute(
            f"select {_COLUMNS} from bank_sim_transfer where reference = %s for update",
            (reference,),
        )
        return await cur.fetchone()

    async def _settle_if_due(self, conn: Conn, row: dict[str, Any]) -> dict[str, Any]:
        """Give a timed-out request its final answer once the settle delay has passed."""
        now = self.clock.now()
        if row["status"] != BankStatus.PENDING or row["settle_at"] > now:
            return row
        plan = scenario_for(row["last4"], row["amount"])
        cur = await conn.execute(
            f"""
            update bank_sim_transfer
            set status = %s, decline_reason = %s, settled_at = %s, callbacks_due = %s,
                next_callback_at = %s
            where reference = %s
            returning {_COLUMNS}
            """,
            (
                plan.status.value,
                plan.reason.value if plan.reason else None,
                now,
                plan.callbacks,
                now,
                row["reference"],
            ),
        )
        settled: dict[str, Any] | None = await cur.fetchone()
        assert settled is not None
        return settled

    # Worker jobs: the bank's own back office.

    async def deliver_callbacks(self, limit: int = 100) -> int:
        """Settle timed-out requests that are due, then call back every due result."""
        await self.db.transaction(lambda conn: self._settle_due(conn, limit))
        return await self.db.transaction(lambda conn: self._call_back_due(conn, limit))

    async def _settle_due(self, conn: Conn, limit: int) -> None:
        cur = await conn.execute(
            f"""
            select {_COLUMNS} from bank_sim_transfer
            where status = 'pending' and settle_at <= %s
            order by settle_at limit %s for update skip locked
            """,
            (self.clock.now(), limit),
        )
        for row in await cur.fetchall():
            await self._settle_if_due(conn, row)

    async def _call_back_due(self, conn: Conn, limit: int) -> int:
        cur = await conn.execute(
            f"""
            select {_COLUMNS} from bank_sim_transfer
            where callbacks_due > 0 and next_callback_at <= %s
            order by next_callback_at limit %s for update skip locked
            """,
            (self.clock.now(), limit),
        )
        sent = 0
        for row in await cur.fetchall():
            delivered = await self._call_back(row)
            sent += delivered
            await self._record_callbacks(conn, row, delivered)
        return sent

    async def _call_back(self, row: dict[str, Any]) -> int:
        """Call every handler once per callback due; return how many were delivered."""
        result = _result(row)
        for delivered in range(row["callbacks_due"]):
            try:
                for handler in self._handlers:
                    await handler(result)
            except Exception as error:  # the receiver failed: the bank retries later
                log.warning("callback failed", reference=row["reference"], error=repr(error))
                return delivered
        return int(row["callbacks_due"])

    async def _record_callbacks(self, conn: Conn, row: dict[str, Any], delivered: int) -> None:
        left = row["callbacks_due"] - delivered
        await conn.execute(
            """
            update bank_sim_transfer set callbacks_due = %s, next_callback_at = %s
            where reference = %s
            """,
            (left, self.clock.now() + CALLBACK_RETRY if left else None, row["reference"]),
        )

    async def write_statement(self, day: date) -> Path:
        """Write the statement of one business day: every request settled that day."""
        start, end = _day_bounds(day)
        rows = await self.db.fetch_all(
            """
            select reference, bank_reference, direction, amount, currency, status, settled_at
            from bank_sim_transfer where settled_at >= %s and settled_at < %s
            order by settled_at, reference
            """,
            (start, end),
        )
        path = self.statement_path(day)
        await asyncio.to_thread(_write_atomically, path, _statement_csv(rows))
        return path

    async def write_statements(self) -> int:
        """The statement job: today's statement so far, and once per process the final
        statement of yesterday (its last minutes may have come after an earlier run).
        Returns how many closed days it wrote."""
        today = business_day(self.clock.now())
        yesterday = today - timedelta(days=1)
        closed = 0
        if yesterday not in self._closed_days:
            await self.write_statement(yesterday)
            self._closed_days.add(yesterday)
            closed = 1
        await self.write_statement(today)
        return closed

    def statement_path(self, day: date) -> Path:
        return self.statements_dir / f"{day.isoformat()}.csv"
