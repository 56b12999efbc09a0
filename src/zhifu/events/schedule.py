"""When to try a delivery again: the pure rules of the retry schedule."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

# The wait after each failed attempt; after the last one the delivery is given up.
RETRY_DELAYS: tuple[timedelta, ...] = (
    timedelta(minutes=4),
    timedelta(minutes=10),
    timedelta(minutes=10),
    timedelta(hours=1),
    timedelta(hours=2),
    timedelta(hours=6),
    timedelta(hours=15),
)
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1


class DeliveryState(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class AttemptResult:
    """What one POST came to: a status code, or an error when no response arrived or
    the reply did not acknowledge; whether the channel took the reply as acknowledged."""

    status_code: int | None
    error: str | None
    duration_ms: int
    acknowledged: bool


@dataclass(frozen=True, slots=True)
class NextStep:
    state: DeliveryState
    next_attempt_at: datetime | None


def after_attempt(attempt_no: int, acknowledged: bool, now: datetime) -> NextStep:
    """The delivery's state once attempt number `attempt_no` (from 1) has finished."""
    if acknowledged:
        return NextStep(DeliveryState.SUCCEEDED, None)
    if attempt_no >= MAX_ATTEMPTS:
        return NextStep(DeliveryState.FAILED, None)
    return NextStep(DeliveryState.PENDING, now + RETRY_DELAYS[attempt_no - 1])
