from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest

from tests.identity.support import PASSWORD, PIN, fund, new_user, random_phone
from zhifu.clock import ManualClock
from zhifu.db import Database
from zhifu.errors import (
    CurrentPinRequired,
    IdempotencyConflict,
    IncorrectPin,
    LimitExceeded,
    NotFound,
    PhoneTaken,
    PinLocked,
    PinNotSet,
    Unauthorized,
    WeakPassword,
)
from zhifu.identity import KYC_LIMITS, UserService
from zhifu.identity.users import SESSION_LIFETIME
from zhifu.ledger import Ledger, account_by_code, balance, transfer


@pytest.fixture
def users(db: Database, clock: ManualClock) -> UserService:
    return UserService(db, clock)


async def test_signup_opens_a_limited_wallet(db: Database, users: UserService) -> None:
    phone = random_phone()
    user = await users.signup(phone[:3] + " " + phone[3:], PASSWORD)
    assert user.phone == "+86" + phone
    assert (user.kyc_tier, user.has_pin) == (0, False)
    assert await users.by_phone(phone) == user
    assert await users.get(user.id) == user
    async with db.connection() as conn:
        wallet = await account_by_code(conn, f"user:{user.id}:wallet:CNY")
        cur = await conn.execute(
            "select cap, single_debit_limit, daily_debit_limit, floor from ledger_account "
            "where id = %s",
            (wallet.id,),
        )
        row = await cur.fetchone()
    limits = KYC_LIMITS[0]
    assert row == {
        "cap": limits.balance_cap,
        "single_debit_limit": limits.single_payment,
        "daily_debit_limit": limits.daily_outflow,
        "floor": 0,
    }
    assert wallet.kind == "user_wallet" and wallet.owner_id == user.id
    assert await users.wallet(user.id) == wallet.id


async def test_signup_refuses_duplicates_and_weak_passwords(users: UserService) -> None:
    phone = random_phone()
    await users.signup(phone, PASSWORD)
    with pytest.raises(PhoneTaken):
        await users.signup("+86" + phone, "another password")
    with pytest.raises(WeakPassword):
        await users.signup(random_phone(), "short")
    with pytest.raises(NotFound):
        await users.by_phone(random_phone())


async def test_concurrent_signups_of_one_phone_make_one_user(users: UserService) -> None:
    phone = random_phone()
    results = await asyncio.gather(
        *[users.signup(phone, PASSWORD) for _ in range(5)], return_exceptions=True
    )
    created = [r for r in results if not isinstance(r, BaseException)]
    assert len(created) == 1
    assert all(isinstance(r, PhoneTaken) for r in results if isinstance(r, BaseException))


async def test_signup_with_idempotency_key_replays(users: UserService) -> None:
    key = str(uuid.uuid4())
    phone = random_phone()
    first = await users.signup(phone, PASSWORD, idempotency_key=key)
    assert await users.signup(phone, PASSWORD, idempotency_key=key) == first
    with pytest.raises(IdempotencyConflict) as reused:
        await users.signup(random_phone(), PASSWORD, idempotency_key=key)
    assert reused.value.details["key"] == key


async def test_login_and_sessions(db: Database, users: UserService, clock: ManualClock) -> None:
    phone = random_phone()
    user = await users.signup(phone, PASSWORD)
    session = await users.login(phone, PASSWORD)
    assert session.user_id == user.id and len(session.token) >= 43
    assert session.expires_at == clock.now() + SESSION_LIFETIME
    assert await users.authenticate(session.token) == user
    stored = await db.fetch_all(
        "select token_hash from user_session where user_id = %s", (user.id,)
    )
    assert [row["token_hash"] for row in stored] != [session.token]
    assert session.token not in str(stored)

    refusals = []
    for login_phone, password in ((phone, "wrong password"), (random_phone(), PASSWORD)):
        with pytest.raises(Unauthorized) as refused:
            await users.login(login_phone, password)
        refusals.append(refused.value.message)
    assert refusals[0] == refusals[1]
    with pytest.raises(Unauthorized):
        await users.login("not a phone", PASSWORD)

    clock.advance(SESSION_LIFETIME)
    with pytest.raises(Unauthorized):
        await users.authenticate(session.token)
    with pytest.raises(Unauthorized):
        await users.authenticate("made-up-token")


async def test_logout_ends_the_session(users: UserService) -> None:
    phone = random_phone()
    await users.signup(phone, PASSWORD)
    session = await users.login(phone, PASSWORD)
    await users.logout(session.token)
    with pytest.raises(Unauthorized):
        await users.authenticate(session.token)


async def test_pin_is_hashed_and_changing_it_needs_the_current_one(
    db: Database, users: UserService
) -> None:
    user_id = await new_user(users, pin=None)
    with pytest.raises(PinNotSet):
        await users.verify_pin(user_id, PIN)
    await users.set_pin(user_id, PIN)
    row = await db.fetch_one("select pin_hash from app_user where id = %s", (user_id,))
    assert row is not None and row["pin_hash"].startswith("$argon2id$")
    await users.verify_pin(user_id, PIN)
    assert (await users.get(user_id)).has_pin

    with pytest.raises(CurrentPinRequired):
        await users.set_pin(user_id, "246810")
    with pytest.raises(IncorrectPin):
        await users.set_pin(user_id, "246810", current_pin="135790")
    await users.set_pin(user_id, "246810", current_pin=PIN)
    await users.verify_pin(user_id, "246810")


async def test_pin_locks_after_five_wrong_tries(users: UserService, clock: ManualClock) -> None:
    user_id = await new_user(users)
    for left in (4, 3):
        with pytest.raises(IncorrectPin) as wrong:
            await users.verify_pin(user_id, "000001")
        assert wrong.value.details["attempts_left"] == left
    await users.verify_pin(user_id, PIN)  # success resets the count
    for left in (4, 3, 2, 1):
        with pytest.raises(IncorrectPin) as wrong:
            await users.verify_pin(user_id, "000001")
        assert wrong.value.details["attempts_left"] == left
    with pytest.raises(PinLocked) as locked:
        await users.verify_pin(user_id, "000001")
    assert locked.value.details["until"] == (clock.now() + timedelta(minutes=15)).isoformat()
    clock.advance(timedelta(minutes=14, seconds=59))
    with pytest.raises(PinLocked):
        await users.verify_pin(user_id, PIN)  # even the right PIN, while locked
    clock.advance(timedelta(seconds=1))
    await users.verify_pin(user_id, PIN)


async def test_concurrent_wrong_pins_cannot_outrun_the_lockout(users: UserService) -> None:
    user_id = await new_user(users)
    results = await asyncio.gather(
        *[users.verify_pin(user_id, "000001") for _ in range(12)], return_exceptions=True
    )
    assert sum(isinstance(r, IncorrectPin) for r in results) == 4
    assert sum(isinstance(r, PinLocked) for r in results) == 8
    with pytest.raises(PinLocked):
        await users.verify_pin(user_id, PIN)


async def test_kyc_tier_sets_the_wallet_limits(
    db: Database, users: UserService, clock: ManualClock
) -> None:
    ledger = Ledger(db, clock)
    user_id = await new_user(users)
    other = await users.wallet(await new_user(users, tier=3))
    wallet = await users.wallet(user_id)
    usd_wallet = await users.wallet(user_id, "USD")
    await fund(db, ledger, wallet, 100_000)
    with pytest.raises(LimitExceeded):
        await ledger.execute(transfer(wallet, other, 50_001, "CNY"))

    upgraded = await users.set_kyc_tier(user_id, 2)
    assert upgraded.kyc_tier == 2 and upgraded.limits == KYC_LIMITS[2]
    await ledger.execute(transfer(wallet, other, 50_001, "CNY"))
    await fund(db, ledger, wallet, 400_000)
    async with db.connection() as conn:
        assert (await balance(conn, wallet)).posted == 449_999
        cur = await conn.execute(
            "select single_debit_limit from ledger_account where id = %s", (usd_wallet,)
        )
        assert await cur.fetchone() == {"single_debit_limit": KYC_LIMITS[2].single_payment}
    assert await users.wallets(user_id) == {"CNY": wallet, "USD": usd_wallet}
    with pytest.raises(NotFound):
        await users.set_kyc_tier(10**12, 1)
    await ledger.close()
