"""Injected time. Domain code asks a Clock; tests move a ManualClock."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock that only moves when told to."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 1, tzinfo=UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> datetime:
        self._now += delta
        return self._now

    def set(self, moment: datetime) -> None:
        self._now = moment


# Daily limits and business days roll over at midnight in this zone.
BUSINESS_TIMEZONE = ZoneInfo("Asia/Shanghai")


def business_day(moment: datetime) -> date:
    return moment.astimezone(BUSINESS_TIMEZONE).date()
