"""Sandbox apps move only sandbox money: a sandbox merchant's app takes payments from
sandbox buyers into sandbox accounts, the platform's sandbox fee account earns the fee,
and no live account moves; live and sandbox money never meet."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.openplatform.alipay_client import AlipayTestClient, new_key, spki_pem
from tests.openplatform.conftest import app_client
from tests.payments.conftest import PIN, Shop
from zhifu.errors import SandboxMismatch
from zhifu.ledger import AccountKind, Book, system_account
from zhifu.runtime import Runtime


def order(total: str, **more: Any) -> dict[str, Any]:
    return {"out_trade_no": f"S{uuid.uuid4().hex[:16]}", "total_amount": total,
            "subject": "sandbox order", **more}  # fmt: skip


async def revenue(runtime: Runtime, book: Book) -> int:
    info = await runtime.db.transaction(
        lambda conn: system_account(conn, AccountKind.PLATFORM_REVENUE, "CNY", shards=16, book=book)
    )
    row = await runtime.db.fetch_one(
        "select sum(posted) as posted from ledger_balance where account_id = %s", (info.id,)
    )
    assert row is not None
    return int(row["posted"] or 0)


async def books_touched(runtime: Runtime, trade_no: str) -> set[str]:
    rows = await runtime.db.fetch_all(
        """
        select distinct a.book from ledger_entry e
        join ledger_posting p on p.entry_id = e.id
        join ledger_account a on a.id = p.account_id
        where e.metadata ->> 'trade_no' = %s
        """,
        (trade_no,),
    )
    return {row["book"] for row in rows}


async def pay_with_code(alipay: AlipayTestClient, runtime: Runtime, buyer: int) -> dict[str, Any]:
    code = (await runtime.payments.devices.current_code(buyer)).code
    return await alipay.call("alipay.trade.pay", order("80.00", scene="bar_code", auth_code=code))


@pytest.fixture
async def sandbox_alipay(
    runtime: Runtime, client: httpx.AsyncClient, shop: Shop
) -> AlipayTestClient:
    merchant = await shop.merchant(sandbox=True)
    return await app_client(runtime, client, merchant.id)


async def test_a_sandbox_app_moves_only_sandbox_money(
    runtime: Runtime, shop: Shop, sandbox_alipay: AlipayTestClient
) -> None:
    app = await runtime.openplatform.apps.get(sandbox_alipay.app_id)
    assert app.sandbox
    live_fees, sandbox_fees = (
        await revenue(runtime, Book.LIVE),
        await revenue(runtime, Book.SANDBOX),
    )
    buyer = await shop.consumer(balance=50_000, sandbox=True)

    paid = await pay_with_code(sandbox_alipay, runtime, buyer)
    assert paid["code"] == "10000", paid
    refunded = await sandbox_alipay.call(
        "alipay.trade.refund", {"trade_no": paid["trade_no"], "refund_amount": "30.00",
                                "out_request_no": "R1"},
    )  # fmt: skip
    assert refunded["code"] == "10000", refunded

    assert await books_touched(runtime, paid["trade_no"]) == {"sandbox"}
    assert await shop.wallet_balance(buyer) == 50_000 - 8_000 + 3_000
    merchant_balance = await runtime.payments.merchants.balances(app.merchant_id)
    # 0.6% of 80.00 is 0.48; the refund of 30.00 returns 0.18 of it.
    assert merchant_balance["pending_settlement"] == 8_000 - 48 - (3_000 - 18)
    assert await revenue(runtime, Book.SANDBOX) == sandbox_fees + 48 - 18
    assert await revenue(runtime, Book.LIVE) == live_fees
    assert (await runtime.ledger.verify()).ok


async def test_live_buyers_cannot_pay_sandbox_merchants_nor_the_reverse(
    runtime: Runtime, shop: Shop, sandbox_alipay: AlipayTestClient, alipay: AlipayTestClient
) -> None:
    live_buyer = await shop.consumer(balance=50_000)
    refused = await pay_with_code(sandbox_alipay, runtime, live_buyer)
    assert (refused["code"], refused["sub_code"]) == ("40004", "ACQ.PAYMENT_FAIL"), refused
    assert "sandbox" in refused["sub_msg"]
    assert await shop.wallet_balance(live_buyer) == 50_000

    sandbox_buyer = await shop.consumer(balance=50_000, sandbox=True)
    refused = await pay_with_code(alipay, runtime, sandbox_buyer)
    assert (refused["code"], refused["sub_code"]) == ("40004", "ACQ.PAYMENT_FAIL"), refused
    assert await shop.wallet_balance(sandbox_buyer) == 50_000
    assert (await runtime.ledger.verify()).ok


async def test_transfers_between_live_and_sandbox_users_are_refused(
    runtime: Runtime, shop: Shop
) -> None:
    live, sandbox = await shop.consumer(balance=10_000), await shop.consumer(sandbox=True)
    with pytest.raises(SandboxMismatch):
        await runtime.transfers.transfer(
            live, to_user_id=sandbox, amount=100, pin=PIN, idempotency_key=uuid.uuid4().hex
        )
    assert await shop.wallet_balance(live) == 10_000


async def test_sandbox_apps_belong_to_sandbox_merchants(runtime: Runtime, shop: Shop) -> None:
    pem = spki_pem(new_key())
    live, sandbox = await shop.merchant(), await shop.merchant(sandbox=True)
    with pytest.raises(SandboxMismatch):
        await runtime.openplatform.create_app(live.id, pem, sandbox=True)
    with pytest.raises(SandboxMismatch):
        await runtime.openplatform.create_app(sandbox.id, pem, sandbox=False)
    assert (await runtime.openplatform.create_app(sandbox.id, pem)).sandbox
    assert not (await runtime.openplatform.create_app(live.id, pem)).sandbox
