from __future__ import annotations

from datetime import UTC, datetime, timedelta

from zhifu.events import MAX_ATTEMPTS, RETRY_DELAYS, DeliveryState
from zhifu.events.schedule import after_attempt

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_the_retry_delays_grow_from_minutes_to_hours() -> None:
    minutes = [delay / timedelta(minutes=1) for delay in RETRY_DELAYS]
    assert minutes == [4, 10, 10, 60, 120, 360, 900]
    assert MAX_ATTEMPTS == 8


def test_each_failed_attempt_waits_its_delay_then_the_last_one_gives_up() -> None:
    for attempt_no, delay in enumerate(RETRY_DELAYS, start=1):
        step = after_attempt(attempt_no, acknowledged=False, now=NOW)
        assert step.state is DeliveryState.PENDING
        assert step.next_attempt_at == NOW + delay
    last = after_attempt(MAX_ATTEMPTS, acknowledged=False, now=NOW)
    assert last.state is DeliveryState.FAILED
    assert last.next_attempt_at is None


def test_an_acknowledged_attempt_succeeds_whatever_its_number() -> None:
    for attempt_no in (1, MAX_ATTEMPTS):
        step = after_attempt(attempt_no, acknowledged=True, now=NOW)
        assert step.state is DeliveryState.SUCCEEDED
        assert step.next_attempt_at is None
