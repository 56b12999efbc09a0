"""Passwords and payment PINs: their rules, argon2id hashing, and the PIN lockout policy.

Hashes use argon2id with OWASP's minimum profile (19 MiB, 2 passes, 1 lane): about
30 ms a hash, computed in a worker thread so the event loop keeps serving. A six-digit
PIN has only a million values, so its real protection is the lockout: the fifth wrong
try in a row locks it for fifteen minutes.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from zhifu.errors import IncorrectPin, InvalidPin, PinLocked, WeakPassword, ZhifuError

PASSWORD_MIN, PASSWORD_MAX = 8, 128
PIN_LENGTH = 6
MAX_PIN_ATTEMPTS = 5
PIN_LOCKOUT = timedelta(minutes=15)

_PIN = re.compile(r"[0-9]{6}")
_SEQUENCES = ("0123456789", "9876543210")


def default_hasher() -> PasswordHasher:
    return PasswordHasher(time_cost=2, memory_cost=19_456, parallelism=1)


class Hasher:
    """argon2id hashing off the event loop."""

    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self._hasher = hasher or default_hasher()
        # A hash of nothing anyone knows: checked when the user is unknown, so that a
        # wrong phone number costs as much time as a wrong password.
        self.decoy = self._hasher.hash("not a password of anyone")

    async def hash(self, secret: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, secret)

    async def matches(self, hashed: str, secret: str) -> bool:
        return await asyncio.to_thread(self._matches, hashed, secret)

    def _matches(self, hashed: str, secret: str) -> bool:
        try:
            return self._hasher.verify(hashed, secret)
        except (VerificationError, InvalidHashError):
            return False


def check_password(password: str) -> str:
    if not isinstance(password, str) or not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        raise WeakPassword(f"a password has {PASSWORD_MIN} to {PASSWORD_MAX} characters")
    return password


def check_pin(pin: str) -> str:
    """Six digits, not all the same and not a run such as 123456."""
    if not isinstance(pin, str) or not _PIN.fullmatch(pin):
        raise InvalidPin(f"a payment PIN is {PIN_LENGTH} digits")
    if len(set(pin)) == 1 or any(pin in run for run in _SEQUENCES):
        raise InvalidPin("the payment PIN is too easy to guess")
    return pin


@dataclass(frozen=True, slots=True)
class PinState:
    failed_attempts: int
    locked_until: datetime | None

    def locked_at(self, now: datetime) -> bool:
        return self.locked_until is not None and now < self.locked_until


CLEAR = PinState(failed_attempts=0, locked_until=None)


def refuse_if_locked(state: PinState, now: datetime) -> None:
    if state.locked_at(now):
        assert state.locked_until is not None
        raise PinLocked(
            "too many wrong payment PINs: try again later",
            until=state.locked_until.isoformat(),
        )


def after_attempt(
    state: PinState, matched: bool, now: datetime
) -> tuple[PinState, ZhifuError | None]:
    """The PIN state after one try (on an unlocked PIN), and the error to raise, if any."""
    if matched:
        return CLEAR, None
    failed = state.failed_attempts + 1
    if failed >= MAX_PIN_ATTEMPTS:
        until = now + PIN_LOCKOUT
        locked = PinLocked(
            f"{MAX_PIN_ATTEMPTS} wrong payment PINs in a row: locked until {until.isoformat()}",
            until=until.isoformat(),
        )
        return PinState(failed_attempts=0, locked_until=until), locked
    left = MAX_PIN_ATTEMPTS - failed
    wrong = IncorrectPin(f"incorrect payment PIN: {left} tries left", attempts_left=left)
    return PinState(failed_attempts=failed, locked_until=None), wrong
