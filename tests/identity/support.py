"""Helpers for tests that need users and money: unique phones, funded wallets."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import httpx

from zhifu.db import Database
from zhifu.identity import UserService
from zhifu.ledger import AccountKind, Ledger, system_account, transfer
from zhifu.runtime import Runtime

PASSWORD = "correct horse battery"
PIN = "802413"


def random_phone() -> str:
    """A Chinese mobile number no other test uses (the database is shared by a session)."""
    return "139" + "".join(secrets.choice("0123456789") for _ in range(8))


async def fund(db: Database, ledger: Ledger, wallet_id: int, amount: int) -> None:
    """Credit a wallet from bank clearing, standing in for a top-up."""
    clearing = await db.transaction(
        lambda conn: system_account(conn, AccountKind.BANK_CLEARING, "CNY")
    )
    await ledger.execute(transfer(clearing.id, wallet_id, amount, "CNY", kind="test_funding"))


async def new_user(
    users: UserService, *, tier: int = 0, pin: str | None = PIN, phone: str | None = None
) -> int:
    user = await users.signup(phone or random_phone(), PASSWORD, kyc_tier=tier)
    if pin is not None:
        await users.set_pin(user.id, pin)
    return user.id


@dataclass(frozen=True)
class Member:
    """A signed-up user of the REST API, with a session."""

    user_id: int
    phone: str
    headers: dict[str, str]


async def member(
    client: httpx.AsyncClient, runtime: Runtime, *, tier: int = 1, balance: int = 0
) -> Member:
    """Sign up, sign in, set the PIN, move to `tier` (as an operator would), and put
    `balance` in the wallet."""
    phone = random_phone()
    credentials = {"phone": phone, "password": PASSWORD}
    created = await client.post("/v1/users", json=credentials)
    assert created.status_code == 201, created.text
    session = await client.post("/v1/sessions", json=credentials)
    assert session.status_code == 201, session.text
    headers = {"Authorization": f"Bearer {session.json()['token']}"}
    assert (await client.put("/v1/me/pin", json={"pin": PIN}, headers=headers)).status_code == 204
    user_id = created.json()["id"]
    if tier:  # an operator's decision: users only ask (POST /v1/me/kyc)
        await runtime.users.set_kyc_tier(user_id, tier)
    if balance:
        await fund(runtime.db, runtime.ledger, await runtime.users.wallet(user_id), balance)
    return Member(user_id, "+86" + phone, headers)
