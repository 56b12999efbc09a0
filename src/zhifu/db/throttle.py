"""Failed-attempt limits in the database, so that every zhifu process sees the same ones.

Two mechanisms, one table each (migration 0015):

- A **rate limit** counts the failures of one kind (its scope) by one subject (a client
  address, a merchant, a terminal) in a fixed window. A try first takes a unit, in one
  atomic upsert that takes none once the window is full, so concurrent tries cannot
  overtake the limit; a try that turns out not to be a failure gives its unit back. A
  full window refuses every try, right or wrong, until it ends (`RateLimited`, with
  `retry_after` in seconds).
- A **lockout** guards one secret (a consumer's password, a merchant login's): after
  `max_failures` wrong tries in a row it locks, first for `first_lock`, twice as long at
  each lock that follows, never longer than `longest_lock`. So an attacker cannot lock a
  victim out for long, and guessing stays slow. While locked, the right secret is refused
  too; accepted, it clears the record. The caller holds the row's lock while it checks
  the secret (`locked_row` is `select ... for update`), so concurrent guesses are
  counted one after another.

`forget_old` (the `forget-old-attempts` job) drops rate-limit windows and lockout records
quiet for a day (FORGET_AFTER): tables stay small, and a secret's locks grow back from
the first length after a quiet day.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from zhifu.clock import Clock
from zhifu.db.database import Conn, Database
from zhifu.errors import RateLimited, SignInLocked, ZhifuError

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
FORGET_AFTER = timedelta(days=1)


def _seconds_until(moment: datetime, now: datetime) -> int:
    return max(1, math.ceil((moment - now).total_seconds()))


# Rate limits.


@dataclass(frozen=True, slots=True)
class RateLimit:
    scope: str
    limit: int
    window: timedelta
    refusal: str  # what the refused client is told

    def window_start(self, now: datetime) -> datetime:
        size = self.window.total_seconds()
        return _EPOCH + timedelta(seconds=(now - _EPOCH).total_seconds() // size * size)


class RateLimiter:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    async def take(self, rule: RateLimit, subject: str) -> None:
        """Take one unit of the subject's current window; RateLimited if it is full."""
        now = self.clock.now()
        start = rule.window_start(now)
        async with self.db.connection() as conn:
            cur = await conn.execute(
                """
                insert into rate_limit as r (scope, subject, window_start, failures)
                values (%(scope)s, %(subject)s, %(start)s, 1)
                on conflict (scope, subject, window_start)
                do update set failures = r.failures + 1 where r.failures < %(limit)s
                returning failures
                """,
                {"scope": rule.scope, "subject": subject, "start": start, "limit": rule.limit},
            )
            taken = await cur.fetchone()
            await conn.execute(
                "delete from rate_limit where scope = %s and subject = %s and window_start < %s",
                (rule.scope, subject, start),
            )
        if taken is None:
            retry_after = _seconds_until(start + rule.window, now)
            raise RateLimited(rule.refusal, retry_after=retry_after)

    async def give_back(self, rule: RateLimit, subject: str) -> None:
        async with self.db.connection() as conn:
            await conn.execute(
                """
                update rate_limit set failures = failures - 1
                where scope = %s and subject = %s and window_start = %s and failures > 0
                """,
                (rule.scope, subject, rule.window_start(self.clock.now())),
            )

    @asynccontextmanager
    async def counting_failures(
        self, limits: list[tuple[RateLimit, str]], failures: tuple[type[ZhifuError], ...]
    ) -> AsyncIterator[None]:
        """Guard one try under each (rule, subject): refused if any window is full; counted
        against each only if it raises one of `failures`."""
        taken: list[tuple[RateLimit, str]] = []
        try:
            for rule, subject in limits:
                await self.take(rule, subject)
                taken.append((rule, subject))
        except RateLimited:
            await self._give_back_all(taken)
            raise
        try:
            yield
        except failures:
            raise
        except BaseException:
            await self._give_back_all(taken)
            raise
        else:
            await self._give_back_all(taken)

    async def _give_back_all(self, taken: list[tuple[RateLimit, str]]) -> None:
        for rule, subject in taken:
            await self.give_back(rule, subject)


# Lockouts.


@dataclass(frozen=True, slots=True)
class Strikes:
    """A secret's record: wrong tries since the last lock, locks so far, and the lock."""

    failed_attempts: int = 0
    lockouts: int = 0
    locked_until: datetime | None = None

    def locked_at(self, now: datetime) -> bool:
        return self.locked_until is not None and now < self.locked_until


@dataclass(frozen=True, slots=True)
class Lockout:
    scope: str
    max_failures: int = 5
    first_lock: timedelta = timedelta(minutes=1)
    longest_lock: timedelta = timedelta(minutes=15)

    def lock_length(self, lockouts: int) -> timedelta:
        """How long the lock numbered `lockouts` (0 for the first) lasts."""
        return min(self.first_lock * (1 << min(lockouts, 20)), self.longest_lock)

    def refuse_if_locked(self, strikes: Strikes, now: datetime) -> None:
        if strikes.locked_at(now):
            assert strikes.locked_until is not None
            raise self._locked("sign-in is locked: try again later", strikes.locked_until, now)

    def after_failure(self, strikes: Strikes, now: datetime) -> tuple[Strikes, ZhifuError | None]:
        """The record after one more wrong try (on an unlocked secret), and the lock
        error if this try locks it."""
        failed = strikes.failed_attempts + 1
        if failed < self.max_failures:
            return Strikes(failed, strikes.lockouts, strikes.locked_until), None
        until = now + self.lock_length(strikes.lockouts)
        message = f"{self.max_failures} wrong passwords in a row: sign-in is locked until "
        locked = self._locked(message + until.isoformat(), until, now)
        return Strikes(0, strikes.lockouts + 1, until), locked

    def _locked(self, message: str, until: datetime, now: datetime) -> SignInLocked:
        return SignInLocked(
            message, until=until.isoformat(), retry_after=_seconds_until(until, now)
        )

    async def locked_row(self, conn: Conn, subject: str) -> Strikes:
        """The subject's record, its row locked until the caller's transaction ends."""
        await conn.execute(
            "insert into sign_in_lockout (scope, subject) values (%s, %s) on conflict do nothing",
            (self.scope, subject),
        )
        cur = await conn.execute(
            """
            select failed_attempts, lockouts, locked_until from sign_in_lockout
            where scope = %s and subject = %s for update
            """,
            (self.scope, subject),
        )
        row = await cur.fetchone()
        assert row is not None
        return Strikes(**row)

    async def failed(
        self, conn: Conn, subject: str, strikes: Strikes, now: datetime
    ) -> ZhifuError | None:
        """Record a wrong try; the lock error if it locks."""
        after, locked = self.after_failure(strikes, now)
        await conn.execute(
            """
            update sign_in_lockout set failed_attempts = %s, lockouts = %s, locked_until = %s,
                last_failed_at = %s
            where scope = %s and subject = %s
            """,
            (after.failed_attempts, after.lockouts, after.locked_until, now, self.scope, subject),
        )
        return locked

    async def succeeded(self, conn: Conn, subject: str) -> None:
        await conn.execute(
            "delete from sign_in_lockout where scope = %s and subject = %s", (self.scope, subject)
        )


async def forget_old(db: Database, now: datetime) -> int:
    """Drop rate-limit windows and lockout records quiet for FORGET_AFTER; how many."""
    before = now - FORGET_AFTER
    async with db.connection() as conn:
        windows = await conn.execute("delete from rate_limit where window_start < %s", (before,))
        records = await conn.execute(
            """
            delete from sign_in_lockout
            where last_failed_at < %s and (locked_until is null or locked_until < %s)
            """,
            (before, now),
        )
    return windows.rowcount + records.rowcount
