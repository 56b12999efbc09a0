"""Consumer sign-in: the lockout per phone and the rate limit per client address."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest

from tests.identity.support import PASSWORD, random_phone
from zhifu.clock import ManualClock
from zhifu.db import Database
from zhifu.db.throttle import FORGET_AFTER, forget_old
from zhifu.errors import RateLimited, SignInLocked, Unauthorized
from zhifu.identity import UserService
from zhifu.identity.users import LOGIN_LOCKOUT, LOGIN_RATE

WRONG = "not-the-password"


@pytest.fixture
def users(db: Database, clock: ManualClock) -> UserService:
    return UserService(db, clock)


def address() -> str:
    return f"198.51.100.{uuid.uuid4().int % 250}:{uuid.uuid4().hex[:6]}"


async def wrong_tries(users: UserService, phone: str, times: int) -> None:
    for _ in range(times):
        with pytest.raises(Unauthorized):
            await users.login(phone, WRONG)


async def test_wrong_passwords_lock_the_phone_even_against_the_right_one(
    users: UserService, clock: ManualClock
) -> None:
    phone = random_phone()
    await users.signup(phone, PASSWORD)
    await wrong_tries(users, phone, LOGIN_LOCKOUT.max_failures - 1)
    with pytest.raises(SignInLocked) as locked:
        await users.login(phone, WRONG)
    assert locked.value.details["retry_after"] == 60
    clock.advance(LOGIN_LOCKOUT.first_lock - timedelta(seconds=1))
    with pytest.raises(SignInLocked):
        await users.login(phone, PASSWORD)
    clock.advance(timedelta(seconds=1))
    await users.login(phone, PASSWORD)
    await wrong_tries(users, phone, LOGIN_LOCKOUT.max_failures - 1)  # success reset it
    await users.login(phone, PASSWORD)


async def test_each_lock_lasts_longer_up_to_a_cap(users: UserService, clock: ManualClock) -> None:
    phone = random_phone()
    await users.signup(phone, PASSWORD)
    lengths = []
    for _ in range(6):
        await wrong_tries(users, phone, LOGIN_LOCKOUT.max_failures - 1)
        with pytest.raises(SignInLocked) as locked:
            await users.login(phone, WRONG)
        lengths.append(locked.value.details["retry_after"])
        clock.advance(timedelta(seconds=lengths[-1]))
    assert lengths == [60, 120, 240, 480, 900, 900]


async def test_an_unknown_phone_locks_like_a_known_one(users: UserService) -> None:
    phone = random_phone()
    await wrong_tries(users, phone, LOGIN_LOCKOUT.max_failures - 1)
    with pytest.raises(SignInLocked):
        await users.login(phone, WRONG)


async def test_concurrent_guesses_cannot_pass_the_lockout(users: UserService) -> None:
    phone = random_phone()
    await users.signup(phone, PASSWORD)
    results = await asyncio.gather(
        *[users.login(phone, WRONG) for _ in range(20)], return_exceptions=True
    )
    wrong = [r for r in results if type(r) is Unauthorized]
    locked = [r for r in results if isinstance(r, SignInLocked)]
    assert (len(wrong), len(locked)) == (LOGIN_LOCKOUT.max_failures - 1, 16)
    with pytest.raises(SignInLocked):
        await users.login(phone, PASSWORD)


async def test_one_address_trying_many_phones_is_rate_limited(
    users: UserService, clock: ManualClock
) -> None:
    client, phone = address(), random_phone()
    await users.signup(phone, PASSWORD)
    await users.login(phone, PASSWORD, client=client)  # a success is not counted
    results = await asyncio.gather(
        *[users.login(random_phone(), WRONG, client=client) for _ in range(LOGIN_RATE.limit + 10)],
        return_exceptions=True,
    )
    assert sum(type(r) is Unauthorized for r in results) == LOGIN_RATE.limit
    refused = [r for r in results if isinstance(r, RateLimited)]
    assert len(refused) == 10 and refused[0].details["retry_after"] > 0
    with pytest.raises(RateLimited):
        await users.login(phone, PASSWORD, client=client)  # even the right password
    await users.login(phone, PASSWORD, client=address())  # another address is not limited
    clock.advance(LOGIN_RATE.window)
    await users.login(phone, PASSWORD, client=client)


async def test_a_quiet_day_forgets_the_locks_and_the_windows(
    db: Database, users: UserService, clock: ManualClock
) -> None:
    phone, client = random_phone(), address()
    for expected in (60, 120):
        await wrong_tries(users, phone, LOGIN_LOCKOUT.max_failures - 1)
        with pytest.raises(SignInLocked) as locked:
            await users.login(phone, WRONG, client=client)
        assert locked.value.details["retry_after"] == expected
        clock.advance(timedelta(seconds=expected))
    clock.advance(FORGET_AFTER)
    assert await forget_old(db, clock.now()) >= 2  # the phone's record, the address's window
    await wrong_tries(users, phone, LOGIN_LOCKOUT.max_failures - 1)
    with pytest.raises(SignInLocked) as locked:
        await users.login(phone, WRONG)
    assert locked.value.details["retry_after"] == 60
