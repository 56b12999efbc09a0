"""Merchant portal sign-in: logins by name or phone, sessions that expire, the lockout
after five wrong passwords (counted one at a time even when they race)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest

from tests.identity.support import random_phone
from tests.payments.conftest import Shop
from zhifu.clock import ManualClock
from zhifu.errors import RateLimited, SignInLocked, Unauthorized, WeakPassword
from zhifu.merchants import (
    BAD_LOGIN,
    PORTAL_LOCKOUT,
    PORTAL_RATE,
    SESSION_LIFETIME,
    InvalidLoginName,
    LoginTaken,
)

PASSWORD = "counter-staff-9"


def new_login() -> str:
    return f"Staff.{uuid.uuid4().hex[:10]}"


async def test_sign_in_by_name_or_phone_and_out(timed_shop: Shop) -> None:
    portal = timed_shop.runtime.payments.portal
    merchant = await timed_shop.merchant()
    name, phone = new_login(), random_phone()
    made = await portal.create(merchant.id, name, PASSWORD, phone=phone)
    assert (made.login, made.phone) == (name.lower(), f"+86{phone}")
    by_name = await portal.sign_in(f"  {name.upper()} ", PASSWORD)
    by_phone = await portal.sign_in(phone, PASSWORD)
    for session in (by_name, by_phone):
        user = await portal.authenticate(session.token)
        assert (user.merchant.id, user.login.id) == (merchant.id, made.id)
    await portal.sign_out(by_name.token)
    with pytest.raises(Unauthorized):
        await portal.authenticate(by_name.token)
    assert (await portal.authenticate(by_phone.token)).merchant.name == merchant.name
    assert [login.id for login in await portal.logins(merchant.id)] == [made.id]


async def test_sessions_expire(timed_shop: Shop) -> None:
    clock = timed_shop.runtime.clock
    assert isinstance(clock, ManualClock)
    portal = timed_shop.runtime.payments.portal
    merchant = await timed_shop.merchant()
    name = new_login()
    await portal.create(merchant.id, name, PASSWORD)
    session = await portal.sign_in(name, PASSWORD)
    assert session.expires_at == clock.now() + SESSION_LIFETIME
    clock.advance(SESSION_LIFETIME - timedelta(seconds=1))
    await portal.authenticate(session.token)
    clock.advance(timedelta(seconds=1))
    with pytest.raises(Unauthorized):
        await portal.authenticate(session.token)


async def test_names_are_checked_and_unique(timed_shop: Shop) -> None:
    portal = timed_shop.runtime.payments.portal
    merchant = await timed_shop.merchant()
    for bad in ("9lives", "ab", "has space", "x" * 65, ""):
        with pytest.raises(InvalidLoginName):
            await portal.create(merchant.id, bad, PASSWORD)
    with pytest.raises(WeakPassword):
        await portal.create(merchant.id, new_login(), "short")
    name, phone = new_login(), random_phone()
    await portal.create(merchant.id, name, PASSWORD, phone=phone)
    other = await timed_shop.merchant()
    with pytest.raises(LoginTaken):
        await portal.create(other.id, name.upper(), PASSWORD)
    with pytest.raises(LoginTaken):
        await portal.create(other.id, new_login(), PASSWORD, phone=phone)


async def test_unknown_names_and_wrong_passwords_are_refused_alike(timed_shop: Shop) -> None:
    portal = timed_shop.runtime.payments.portal
    merchant = await timed_shop.merchant()
    name = new_login()
    await portal.create(merchant.id, name, PASSWORD)
    refusals = []
    for who, password in ((name, "wrong-password"), ("nobody-at-all", PASSWORD),
                          (random_phone(), PASSWORD), ("!!", PASSWORD)):  # fmt: skip
        with pytest.raises(Unauthorized) as refused:
            await portal.sign_in(who, password)
        refusals.append((refused.value.code, refused.value.message, refused.value.details))
    assert refusals == [("unauthorized", BAD_LOGIN, {})] * 4


async def test_five_wrong_passwords_lock_the_login_for_a_while(timed_shop: Shop) -> None:
    clock = timed_shop.runtime.clock
    assert isinstance(clock, ManualClock)
    portal = timed_shop.runtime.payments.portal
    merchant = await timed_shop.merchant()
    name = new_login()
    await portal.create(merchant.id, name, PASSWORD)
    for _ in range(4):
        with pytest.raises(Unauthorized):
            await portal.sign_in(name, "not-the-password")
    with pytest.raises(SignInLocked) as locked:
        await portal.sign_in(name, "not-the-password")
    until = locked.value.details["until"]
    assert until == (clock.now() + PORTAL_LOCKOUT.first_lock).isoformat()
    clock.advance(PORTAL_LOCKOUT.first_lock - timedelta(seconds=1))
    with pytest.raises(SignInLocked):
        await portal.sign_in(name, PASSWORD)  # even the right password, while locked
    clock.advance(timedelta(seconds=1))
    await portal.sign_in(name, PASSWORD)
    for _ in range(4):  # the right password cleared the count
        with pytest.raises(Unauthorized):
            await portal.sign_in(name, "not-the-password")
    await portal.sign_in(name, PASSWORD)


async def test_racing_guesses_are_counted_one_by_one(timed_shop: Shop) -> None:
    portal = timed_shop.runtime.payments.portal
    merchant = await timed_shop.merchant()
    name = new_login()
    await portal.create(merchant.id, name, PASSWORD)
    outcomes = await asyncio.gather(
        *(portal.sign_in(name, f"guess-{n:04d}") for n in range(12)), return_exceptions=True
    )
    codes = sorted(type(outcome).__name__ for outcome in outcomes)
    assert codes == ["SignInLocked"] * 8 + ["Unauthorized"] * 4


async def test_one_address_trying_many_logins_is_rate_limited(timed_shop: Shop) -> None:
    portal, clock = timed_shop.runtime.payments.portal, timed_shop.runtime.clock
    assert isinstance(clock, ManualClock)
    merchant = await timed_shop.merchant()
    name, client = new_login(), f"192.0.2.{uuid.uuid4().int % 250}:{uuid.uuid4().hex[:6]}"
    await portal.create(merchant.id, name, PASSWORD)
    for _ in range(PORTAL_RATE.limit):
        with pytest.raises(Unauthorized):
            await portal.sign_in(new_login(), "not-the-password", client=client)
    with pytest.raises(RateLimited):
        await portal.sign_in(name, PASSWORD, client=client)
    await portal.sign_in(name, PASSWORD, client="192.0.2.1:elsewhere")
    clock.advance(PORTAL_RATE.window)
    await portal.sign_in(name, PASSWORD, client=client)
