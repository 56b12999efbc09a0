"""A fresh server whose first movement is refused keeps working: the accounts that refused
movement opened were rolled back with it, and nothing of them may stay in the process.

Each test runs on a database of its own, so the process's account cache is cold, as on a
server just started.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.api.merchants import MerchantKey, create_trade, ok, onboard, pay, refused
from tests.conftest import private_database
from tests.funding.support import card_number
from tests.identity.support import PASSWORD, PIN, Member, random_phone
from zhifu.api.app import create_app
from zhifu.db.settings import DatabaseSettings
from zhifu.ledger import AccountKind, Book, system_account, transfer
from zhifu.runtime import Runtime
from zhifu.settings import Settings

Server = tuple[Runtime, httpx.AsyncClient]


@pytest.fixture
async def fresh(server_urls: dict[str, str], tmp_path: Path) -> AsyncIterator[Server]:
    async with private_database(server_urls["embedded"], max_size=2) as database:
        settings = Settings(db=DatabaseSettings(database_url=database.url, data_dir=tmp_path))
        runtime = await Runtime.start(settings)
        transport = httpx.ASGITransport(app=create_app(runtime), raise_app_exceptions=False)
        try:
            async with httpx.AsyncClient(transport=transport, base_url="http://zhifu.test") as http:
                yield runtime, http
        finally:
            await runtime.close()


async def sign_up(http: httpx.AsyncClient, *, sandbox: bool = False) -> Member:
    credentials = {"phone": random_phone(), "password": PASSWORD}
    created = ok(await http.post("/v1/users", json={**credentials, "sandbox": sandbox}), 201)
    token = ok(await http.post("/v1/sessions", json=credentials), 201)["token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert (await http.put("/v1/me/pin", json={"pin": PIN}, headers=headers)).status_code == 204
    return Member(created["id"], created["phone"], headers)


async def give(runtime: Runtime, who: Member, amount: int, currency: str = "CNY") -> None:
    """Money from bank clearing into the wallet, in the wallet's book."""
    user = await runtime.users.get(who.user_id)
    book = Book.of(user.sandbox)
    wallet = await runtime.users.wallet(who.user_id, currency)
    clearing = await runtime.db.transaction(
        lambda conn: system_account(conn, AccountKind.BANK_CLEARING, currency, book=book)
    )
    await runtime.ledger.execute(transfer(clearing.id, wallet, amount, currency, kind="test"))


async def balance(http: httpx.AsyncClient, who: Member, currency: str = "CNY") -> int:
    posted: int = ok(await http.get(f"/v1/balance?currency={currency}", headers=who.headers))[
        "posted"
    ]
    return posted


async def account_ids(runtime: Runtime) -> set[int]:
    rows = await runtime.db.fetch_all("select id from ledger_account")
    return {row["id"] for row in rows}


async def test_a_payment_refused_for_funds_does_not_spoil_the_next(fresh: Server) -> None:
    runtime, http = fresh
    shop = await onboard(runtime)
    buyer = await sign_up(http)
    short = await create_trade(http, shop, 10_000)
    refused(await pay(http, buyer, short["trade_no"]), 402, "insufficient_funds")

    await give(runtime, buyer, 20_000)
    good = await create_trade(http, shop, 10_000)
    assert ok(await pay(http, buyer, good["trade_no"]))["state"] == "TRADE_SUCCESS"
    assert await balance(http, buyer) == 10_000


async def test_a_top_up_over_the_cap_does_not_spoil_the_next(fresh: Server) -> None:
    _, http = fresh
    buyer = await sign_up(http)  # tier 0: the wallet holds at most 1,000.00
    card = ok(
        await http.post("/v1/cards", json={"number": card_number("1111")}, headers=buyer.headers),
        201,
    )

    async def top_up(amount: int) -> httpx.Response:
        body = {"card_id": card["id"], "amount": amount}
        headers = {**buyer.headers, "Idempotency-Key": str(uuid.uuid4())}
        return await http.post("/v1/topups", json=body, headers=headers)

    refused(await top_up(100_001), 422, "balance_cap_exceeded")
    assert ok(await top_up(10_000), 201)["state"] == "succeeded"
    assert await balance(http, buyer) == 10_000


async def test_a_sandbox_mismatch_does_not_spoil_the_next_sandbox_payment(fresh: Server) -> None:
    runtime, http = fresh
    merchant, key = await runtime.payments.merchants.create("Sandbox shop", sandbox=True)
    shop = MerchantKey(merchant.id, {"Authorization": f"Bearer {key.secret_key}"})
    live_buyer, sandbox_buyer = await sign_up(http), await sign_up(http, sandbox=True)
    await give(runtime, live_buyer, 20_000)
    await give(runtime, sandbox_buyer, 20_000)
    mixed = await create_trade(http, shop, 10_000)
    refused(await pay(http, live_buyer, mixed["trade_no"]), 422, "sandbox_mismatch")

    good = await create_trade(http, shop, 10_000)
    assert ok(await pay(http, sandbox_buyer, good["trade_no"]))["state"] == "TRADE_SUCCESS"
    assert await balance(http, sandbox_buyer) == 10_000


async def test_a_refused_payment_in_a_new_currency_opens_nothing(fresh: Server) -> None:
    runtime, http = fresh
    shop = await onboard(runtime)
    buyer = await sign_up(http)
    before = await account_ids(runtime)
    dollars = await create_trade(http, shop, 1_000, currency="USD")
    refused(await pay(http, buyer, dollars["trade_no"]), 402, "insufficient_funds")
    assert await account_ids(runtime) == before

    profile = ok(await http.get("/v1/merchant?currency=USD", headers=shop.headers))
    assert profile["balances"]["pending_settlement"] == profile["balances"]["available"] == 0
    await give(runtime, buyer, 5_000, "USD")
    good = await create_trade(http, shop, 1_000, currency="USD")
    assert ok(await pay(http, buyer, good["trade_no"]))["state"] == "TRADE_SUCCESS"
    assert await balance(http, buyer, "USD") == 4_000
