"""alipay.fund.trans.uni.transfer and its queries through /gateway.do: a merchant pays
zhifu users from its balance, once per out_biz_no, never below zero."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from typing import Any

import httpx
import pytest

from tests.e2e.harness import ServerProcess, cli
from tests.openplatform import test_sdk_fzlee as fzlee
from tests.openplatform.alipay_client import AlipayTestClient
from tests.openplatform.conftest import app_client
from tests.openplatform.test_gateway import assert_refused
from tests.payments.conftest import PIN, Shop
from zhifu.ledger import AccountKind, system_account, transfer
from zhifu.merchants import Merchant, merchant_accounts
from zhifu.payments import NewTrade
from zhifu.runtime import Runtime

TRANSFER = "alipay.fund.trans.uni.transfer"
server = fzlee.server  # a real `zhifu serve`, for the SDK test


async def sell(runtime: Runtime, shop: Shop, merchant: Merchant, amount: int) -> None:
    """A consumer pays the merchant `amount`: the money lands in its pending settlement."""
    buyer = await shop.consumer(balance=amount)
    sale = NewTrade(out_trade_no=uuid.uuid4().hex, amount=amount, subject="tea")
    trade = await runtime.payments.trades.create(merchant, sale)
    await runtime.payments.paying.pay_trade(trade.trade_no, buyer, pin=PIN)


@pytest.fixture
async def merchant(shop: Shop) -> Merchant:
    return await shop.merchant(fee_rate_ppm=0)  # no fee: balances stay round


@pytest.fixture
async def alipay(runtime: Runtime, client: httpx.AsyncClient, merchant: Merchant) -> Any:
    return await app_client(runtime, client, merchant.id)


def payout(
    identity: str, amount: str, out_biz_no: str | None = None, **more: Any
) -> dict[str, Any]:
    kind = "ALIPAY_USER_ID" if identity.startswith("2088") else "ALIPAY_LOGON_ID"
    return {
        "out_biz_no": out_biz_no or f"P{uuid.uuid4().hex[:20]}",
        "trans_amount": amount,
        "product_code": "TRANS_ACCOUNT_NO_PWD",
        "biz_scene": "DIRECT_TRANSFER",
        "order_title": "佣金 commission",
        "payee_info": {"identity": identity, "identity_type": kind, "name": None},
        **more,
    }


def user_id(user: int) -> str:
    return f"2088{user:012d}"


async def balance(runtime: Runtime, merchant: Merchant) -> tuple[int, int]:
    found = await runtime.payments.merchants.balances(merchant.id)
    return found["pending_settlement"], found["available"]


async def test_pay_a_user_by_id_once_and_query_it_both_ways(
    alipay: AlipayTestClient, runtime: Runtime, shop: Shop, merchant: Merchant
) -> None:
    await sell(runtime, shop, merchant, 100_00)
    user = await shop.consumer(balance=0)
    asked = payout(user_id(user), "30.00", remark="June commission")

    paid = await alipay.call(TRANSFER, asked)
    assert alipay.last_node == "alipay_fund_trans_uni_transfer_response"
    assert (paid["code"], paid["status"]) == ("10000", "SUCCESS")
    assert paid["out_biz_no"] == asked["out_biz_no"]
    assert "sub_code" not in paid and len(paid["order_id"]) == 32 and paid["pay_fund_order_id"]
    assert paid["trans_date"]
    assert await shop.wallet_balance(user) == 30_00
    assert await balance(runtime, merchant) == (70_00, 0)

    again = await alipay.call(TRANSFER, asked)
    assert again == paid  # the first answer, and no money moved
    assert await shop.wallet_balance(user) == 30_00
    assert await balance(runtime, merchant) == (70_00, 0)

    for ref in ({"out_biz_no": asked["out_biz_no"]}, {"order_id": paid["order_id"]}):
        found = await alipay.call("alipay.fund.trans.common.query", ref)
        assert found["code"] == "10000" and "sub_code" not in found
        assert (found["order_id"], found["out_biz_no"]) == (paid["order_id"], asked["out_biz_no"])
        assert (found["trans_amount"], found["status"]) == ("30.00", "SUCCESS")
        assert found["pay_fund_order_id"] == paid["pay_fund_order_id"]
        assert found["pay_date"] == paid["trans_date"]
        legacy = await alipay.call("alipay.fund.trans.order.query", ref)
        assert (legacy["order_id"], legacy["status"]) == (paid["order_id"], "SUCCESS")

    (line, *_) = await runtime.transfers.statement(user)
    assert (line.kind, line.amount, line.memo) == ("payout", 30_00, "June commission")


async def test_pay_a_user_by_phone(
    alipay: AlipayTestClient, runtime: Runtime, shop: Shop, merchant: Merchant
) -> None:
    await sell(runtime, shop, merchant, 20_00)
    user = await runtime.users.get(await shop.consumer(balance=0))
    paid = await alipay.call(TRANSFER, payout(user.phone, "20.00"))
    assert paid["status"] == "SUCCESS"
    assert await shop.wallet_balance(user.id) == 20_00
    assert await balance(runtime, merchant) == (0, 0)
    (line, *_) = await runtime.transfers.statement(user.id)
    assert line.memo == "佣金 commission"  # the title when there is no remark


async def test_a_payout_takes_pending_settlement_first_then_available(
    alipay: AlipayTestClient, runtime: Runtime, shop: Shop, merchant: Merchant
) -> None:
    await sell(runtime, shop, merchant, 30_00)

    # 50.00 made available, as a settlement run would.
    _, available = await runtime.db.transaction(
        lambda conn: merchant_accounts(conn, merchant.id, "CNY")
    )
    clearing = await runtime.db.transaction(
        lambda conn: system_account(conn, AccountKind.BANK_CLEARING, "CNY")
    )
    await runtime.ledger.execute(transfer(clearing.id, available, 50_00, "CNY"))
    user = await shop.consumer(balance=0)
    assert (await alipay.call(TRANSFER, payout(user_id(user), "60.00")))["code"] == "10000"
    assert await balance(runtime, merchant) == (0, 20_00)
    refused = await alipay.call(TRANSFER, payout(user_id(user), "20.01"))
    assert_refused(refused, "40004", "PAYER_BALANCE_NOT_ENOUGH")
    assert await balance(runtime, merchant) == (0, 20_00)


async def test_the_same_out_biz_no_for_another_payee_or_amount_is_refused(
    alipay: AlipayTestClient, runtime: Runtime, shop: Shop, merchant: Merchant
) -> None:
    await sell(runtime, shop, merchant, 50_00)
    first, second = await shop.consumer(balance=0), await shop.consumer(balance=0)
    asked = payout(user_id(first), "10.00")
    assert (await alipay.call(TRANSFER, asked))["code"] == "10000"
    for changed in (
        {**asked, "trans_amount": "10.01"},
        {**asked, "payee_info": {"identity": user_id(second), "identity_type": "ALIPAY_USER_ID"}},
    ):
        assert_refused(await alipay.call(TRANSFER, changed), "40004", "PAYMENT_INFO_INCONSISTENCY")
    assert await balance(runtime, merchant) == (40_00, 0)
    assert await shop.wallet_balance(second) == 0


async def test_a_payout_above_the_balance_leaves_nothing_and_may_be_retried(
    alipay: AlipayTestClient, runtime: Runtime, shop: Shop, merchant: Merchant
) -> None:
    await sell(runtime, shop, merchant, 10_00)
    user = await shop.consumer(balance=0)
    asked = payout(user_id(user), "10.01")
    assert_refused(await alipay.call(TRANSFER, asked), "40004", "PAYER_BALANCE_NOT_ENOUGH")
    missing = await alipay.call(
        "alipay.fund.trans.common.query", {"out_biz_no": asked["out_biz_no"]}
    )
    assert_refused(missing, "40004", "ORDER_NOT_EXIST")
    assert await balance(runtime, merchant) == (10_00, 0)

    await sell(runtime, shop, merchant, 1)
    assert (await alipay.call(TRANSFER, asked))["status"] == "SUCCESS"
    assert await balance(runtime, merchant) == (0, 0)
    assert await shop.wallet_balance(user) == 10_01


async def test_unknown_payees_and_malformed_requests(
    alipay: AlipayTestClient, runtime: Runtime, shop: Shop, merchant: Merchant
) -> None:
    await sell(runtime, shop, merchant, 10_00)
    user = await shop.consumer(balance=0)
    unregistered = f"139{secrets.randbelow(10**8):08d}"  # the suite shares one database
    for identity in (user_id(10**12 - 1), unregistered, "not a phone"):
        answer = await alipay.call(TRANSFER, payout(identity, "1.00"))
        assert_refused(answer, "40004", "PAYEE_NOT_EXIST")
    good = payout(user_id(user), "1.00")
    for bad in (
        {"trans_amount": "0.001"},
        {"trans_amount": "0"},
        {"trans_amount": "100000000.01"},
        {"product_code": "STD_RED_PACKET"},
        {"product_code": None},
        {"biz_scene": "PERSONAL_PAY"},
        {"out_biz_no": "has spaces in it"},
        {"out_biz_no": None},
        {"payee_info": {"identity": user_id(user), "identity_type": "BANKCARD_ACCOUNT"}},
        {"payee_info": {"identity": "2088123", "identity_type": "ALIPAY_USER_ID"}},
        {
            "payee_info": {
                "identity": user_id(user),
                "identity_type": "ALIPAY_USER_ID",
                "name": "x" * 101,
            }
        },
        {"payee_info": "2088"},
        {"remark": "x" * 201},
    ):
        answer = await alipay.call(TRANSFER, {**good, **bad})
        assert_refused(answer, "40004", "INVALID_PARAMETER")
    assert_refused(
        await alipay.call("alipay.fund.trans.common.query", {}), "40004", "INVALID_PARAMETER"
    )
    assert await balance(runtime, merchant) == (10_00, 0)


async def test_a_payee_whose_tier_caps_their_balance_cannot_receive_more(
    alipay: AlipayTestClient, runtime: Runtime, shop: Shop, merchant: Merchant
) -> None:
    await sell(runtime, shop, merchant, 2_000_00)
    unverified = await shop.consumer(balance=0, tier=0)  # balance cap 1,000.00
    answer = await alipay.call(TRANSFER, payout(user_id(unverified), "1000.01"))
    assert_refused(answer, "40004", "PERMIT_NON_BANK_LIMIT_PAYEE")
    assert await balance(runtime, merchant) == (2_000_00, 0)


async def test_another_merchant_cannot_see_a_payout(
    alipay: AlipayTestClient,
    runtime: Runtime,
    client: httpx.AsyncClient,
    shop: Shop,
    merchant: Merchant,
) -> None:
    await sell(runtime, shop, merchant, 5_00)
    paid = await alipay.call(TRANSFER, payout(user_id(await shop.consumer(balance=0)), "5.00"))
    other = await app_client(runtime, client, (await shop.merchant()).id)
    for ref in ({"order_id": paid["order_id"]}, {"out_biz_no": paid["out_biz_no"]}):
        answer = await other.call("alipay.fund.trans.order.query", ref)
        assert_refused(answer, "40004", "ORDER_NOT_EXIST")


async def test_concurrent_payouts_never_overdraw_and_retries_pay_once(
    alipay: AlipayTestClient, runtime: Runtime, shop: Shop, merchant: Merchant
) -> None:
    await sell(runtime, shop, merchant, 100_00)
    users = [await shop.consumer(balance=0) for _ in range(3)]
    asks = [payout(user_id(users[n % 3]), "7.00") for n in range(24)]
    # Each of the first four is also sent three more times at once: a client retrying.
    sent = asks + [ask for ask in asks[:4] for _ in range(3)]
    answers = await asyncio.gather(*(alipay.call(TRANSFER, ask) for ask in sent))

    paid = {a["out_biz_no"]: a["order_id"] for a in answers if a["code"] == "10000"}
    refused = [a for a in answers if a["code"] != "10000"]
    assert len(paid) == 14  # 14 x 7.00 = 98.00 of 100.00
    assert all(a["sub_code"] == "PAYER_BALANCE_NOT_ENOUGH" for a in refused)
    for ask, answer in zip(sent, answers, strict=True):
        if answer["code"] == "10000":
            assert answer["order_id"] == paid[ask["out_biz_no"]]
    assert await balance(runtime, merchant) == (2_00, 0)
    received = [await shop.wallet_balance(user) for user in users]
    assert sum(received) == 98_00
    report = await runtime.ledger.verify()
    assert report.ok, report.breaches


@pytest.mark.skipif(not fzlee.sdk_available(), reason="python-alipay-sdk is not installed")
async def test_a_payout_and_its_query_with_the_fzlee_sdk(
    server: ServerProcess, runtime: Runtime, shop: Shop, tmp_path: Any
) -> None:
    """fzlee has the transfer helper only in certificate mode; `server_api` is what a
    merchant uses with a key pair, and the order query is its own helper's request."""
    made = cli("merchant", "create", "--name", "Payroll", database_url=server.database_url)
    app = fzlee.register_app(server, made["id"], tmp_path)
    order = {"out_trade_no": f"T{uuid.uuid4().hex[:12]}", "total_amount": "100.00", "subject": "x"}
    assert app.call("alipay.trade.precreate", order)["code"] == "10000"
    trade_no = app.call("alipay.trade.query", {"out_trade_no": order["out_trade_no"]})["trade_no"]
    buyer = await runtime.users.get(await shop.consumer(balance=100_00))
    fzlee.consumer_pays(server, buyer.phone, trade_no)  # 99.40 pending after the 0.6% fee

    payee = await runtime.users.get(await shop.consumer(balance=0))
    asked = payout(payee.phone, "99.40", out_biz_no="salary-2026-06")
    paid = app.call(TRANSFER, asked)
    assert (paid["code"], paid["status"], paid["out_biz_no"]) == (
        "10000",
        "SUCCESS",
        "salary-2026-06",
    )
    assert app.call(TRANSFER, asked)["order_id"] == paid["order_id"]
    found = app.call("alipay.fund.trans.order.query", {"out_biz_no": "salary-2026-06"})
    assert (found["order_id"], found["status"]) == (paid["order_id"], "SUCCESS")
    over = app.call(TRANSFER, payout(payee.phone, "0.01"))
    assert (over["code"], over["sub_code"]) == ("40004", "PAYER_BALANCE_NOT_ENOUGH")
    assert await shop.wallet_balance(payee.id) == 99_40
