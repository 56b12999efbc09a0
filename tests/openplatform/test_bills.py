"""alipay.data.dataservice.bill.downloadurl.query and the bill files behind its links,
on a clock the tests move: a past day of payments, partial refunds and a payout, read
back from the zip to the fen."""

from __future__ import annotations

import csv
import io
import uuid
import zipfile
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.conftest import settings_for
from tests.openplatform.alipay_client import AlipayTestClient
from tests.openplatform.conftest import app_client
from tests.openplatform.test_gateway import assert_refused
from tests.payments.conftest import PIN, Shop
from zhifu.api.app import create_app
from zhifu.clock import BUSINESS_TIMEZONE, ManualClock
from zhifu.merchants import Merchant
from zhifu.openplatform.fields import alipay_time
from zhifu.payments import NewTrade, Trade
from zhifu.runtime import Runtime

QUERY = "alipay.data.dataservice.bill.downloadurl.query"
DAY = datetime(2026, 3, 1, tzinfo=BUSINESS_TIMEZONE)  # the business day billed


@pytest.fixture(scope="module")
async def on_clock(database_url: str) -> AsyncIterator[tuple[Runtime, httpx.AsyncClient]]:
    """zhifu over HTTP on a clock that only moves when a test moves it."""
    settings = settings_for(database_url)
    runtime = await Runtime.start(settings, clock=ManualClock(DAY))
    transport = httpx.ASGITransport(app=create_app(runtime), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://zhifu.test") as http:
        yield runtime, http
    await runtime.close()


def at(moment: datetime, runtime: Runtime) -> None:
    clock = runtime.clock
    assert isinstance(clock, ManualClock)
    clock.set(moment)


async def ask(alipay: AlipayTestClient, runtime: Runtime, method: str, **biz: Any) -> Any:
    """A gateway call stamped with zhifu's (moved) clock, as a client in sync would."""
    return await alipay.call(method, biz, timestamp=alipay_time(runtime.clock.now()))


async def sale(runtime: Runtime, shop: Shop, merchant: Merchant, amount: int, **more: Any) -> Trade:
    buyer = await shop.consumer(balance=amount)
    order = NewTrade(out_trade_no=uuid.uuid4().hex, amount=amount, subject="茶 tea", **more)
    trade = await runtime.payments.trades.create(merchant, order)
    await runtime.payments.paying.pay_trade(trade.trade_no, buyer, pin=PIN)
    return await runtime.payments.trades.get(merchant.id, trade_no=trade.trade_no)


def read_zip(content: bytes) -> dict[str, tuple[list[str], list[list[str]]]]:
    """Each CSV of the zip: its comment lines and its rows (the header first)."""
    files = {}
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        for name in archive.namelist():
            text = archive.read(name).decode("gbk")
            lines = text.split("\r\n")
            comments = [line for line in lines if line.startswith("#")]
            table = [line for line in lines if line and not line.startswith("#")]
            files[name] = (comments, list(csv.reader(table)))
    return files


def yuan(fen: int) -> str:
    return f"{'-' if fen < 0 else ''}{abs(fen) // 100}.{abs(fen) % 100:02d}"


def column(rows: list[list[str]], name: str) -> list[str]:
    index = rows[0].index(name)
    return [row[index] for row in rows[1:]]


def fen(text: str) -> int:
    sign = -1 if text.startswith("-") else 1
    whole, cents = text.lstrip("-").split(".")
    return sign * (int(whole) * 100 + int(cents))


@pytest.fixture(scope="module")
async def billed_day(on_clock: tuple[Runtime, httpx.AsyncClient]) -> dict[str, Any]:
    """A merchant's 2026-03-01 (Beijing): three sales (one in a store), two refunds and a
    payout, with sales just before and after the day, and a refund the day after."""
    runtime, http = on_clock
    shop = Shop(runtime)
    merchant = await shop.merchant()  # 0.6% fee
    alipay = await app_client(runtime, http, merchant.id)
    store = await runtime.payments.merchants.add_store(merchant.id, "=Main St")

    at(DAY - timedelta(seconds=1), runtime)
    before = await sale(runtime, shop, merchant, 12_34)
    at(DAY + timedelta(hours=9), runtime)
    big = await sale(runtime, shop, merchant, 100_00, store_id=store["id"])
    odd = await sale(runtime, shop, merchant, 33_33)
    tiny = await sale(runtime, shop, merchant, 1)
    at(DAY + timedelta(hours=15), runtime)
    partial = await runtime.payments.refunds.refund(
        merchant.id, trade_no=big.trade_no, out_request_no="r1", amount=30_00
    )
    whole = await runtime.payments.refunds.refund(
        merchant.id, trade_no=tiny.trade_no, out_request_no="r2", amount=1
    )
    payee = await shop.consumer(balance=0)
    paid = await ask(
        alipay,
        runtime,
        "alipay.fund.trans.uni.transfer",
        out_biz_no="payout-1",
        trans_amount="10.00",
        product_code="TRANS_ACCOUNT_NO_PWD",
        payee_info={"identity": f"2088{payee:012d}", "identity_type": "ALIPAY_USER_ID"},
    )
    assert paid["code"] == "10000"
    at(DAY + timedelta(days=1), runtime)
    after = await sale(runtime, shop, merchant, 5_00)
    next_day_refund = await runtime.payments.refunds.refund(
        merchant.id, trade_no=odd.trade_no, out_request_no="r3", amount=3_33
    )
    at(DAY + timedelta(days=1, hours=8), runtime)
    trades = [
        await runtime.payments.trades.get(merchant.id, trade_no=t.trade_no)
        for t in (big, odd, tiny)
    ]
    return {
        "runtime": runtime,
        "http": http,
        "shop": shop,
        "merchant": merchant,
        "alipay": alipay,
        "store": store,
        "trades": trades,
        "refunds": [partial, whole],
        "outside": [before, after],
        "payout": paid,
        "next_day_refund": next_day_refund,
    }


async def download(billed: dict[str, Any], **biz: Any) -> tuple[str, bytes]:
    answer = await ask(billed["alipay"], billed["runtime"], QUERY, **biz)
    assert answer["code"] == "10000" and "sub_code" not in answer, answer
    url = answer["bill_download_url"]
    assert url.startswith("http://zhifu.test/gateway/bills/")
    response = await billed["http"].get(url)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    return url, response.content


async def test_the_trade_bill_says_what_the_trades_and_refunds_say(
    billed_day: dict[str, Any],
) -> None:
    trades, refunds = billed_day["trades"], billed_day["refunds"]
    account = f"2088{billed_day['merchant'].id:012d}0156"
    _, content = await download(billed_day, bill_type="trade", bill_date="2026-03-01")
    files = read_zip(content)
    detail_name = f"{account}_20260301_业务明细.csv"
    assert set(files) == {detail_name, f"{account}_20260301_业务明细(汇总).csv"}

    comments, rows = files[detail_name]
    assert comments[:3] == [
        "#支付宝业务明细查询",
        f"#账号：[{account}]",
        "#起始日期：[2026年03月01日 00:00:00]   终止日期：[2026年03月02日 00:00:00]",
    ]
    assert rows[0][:3] == ["支付宝交易号", "商户订单号", "业务类型"] and len(rows[0]) == 25
    assert column(rows, "支付宝交易号") == [t.trade_no for t in trades] + [
        trades[0].trade_no,
        trades[2].trade_no,
    ]
    assert column(rows, "业务类型") == ["交易"] * 3 + ["退款"] * 2
    assert column(rows, "订单金额（元）") == [yuan(t.amount) for t in trades] + [
        yuan(trades[0].amount),
        yuan(trades[2].amount),
    ]
    received = [t.amount for t in trades] + [-r.amount for r in refunds]
    fees = [-t.fee for t in trades] + [r.fee_refund for r in refunds]
    assert column(rows, "商家实收（元）") == [yuan(x) for x in received]
    assert column(rows, "服务费（元）") == [yuan(x) for x in fees]
    assert column(rows, "退款批次号/请求号") == ["", "", "", "r1", "r2"]
    assert column(rows, "门店名称")[0] == "'=Main St"  # never run as a formula
    assert column(rows, "完成时间")[0] == "2026-03-01 09:00:00"
    assert column(rows, "商品名称")[0] == "茶 tea"
    assert all("****" in phone for phone in column(rows, "对方账户"))
    assert comments[-3:-1] == [
        f"#交易合计：3笔，商家实收共{yuan(sum(t.amount for t in trades))}元，商家优惠共0.00元",
        f"#退款合计：2笔，商家实收退款共{yuan(-sum(r.amount for r in refunds))}元，"
        "商家优惠退款共0.00元",
    ]
    assert comments[-1] == "#导出时间：[2026年03月02日 08:00:00]"

    _, summary = files[f"{account}_20260301_业务明细(汇总).csv"]
    total = dict(zip(summary[0], summary[-1], strict=True))
    assert (total["门店编号"], total["交易订单总笔数"], total["退款订单总笔数"]) == (
        "合计",
        "3",
        "2",
    )
    assert fen(total["订单金额（元）"]) == sum(t.amount for t in trades)
    assert fen(total["商家实收（元）"]) == sum(received)
    assert fen(total["服务费（元）"]) == sum(fees)
    # What the merchant keeps of the day's trades, before the next day's refund.
    later = billed_day["next_day_refund"]
    net = sum(t.net_amount for t in trades) + later.amount - later.fee_refund
    assert fen(total["实收净额（元）"]) == net == sum(received) + sum(fees)
    stores = {row[0]: row for row in summary[1:-1]}
    assert set(stores) == {str(billed_day["store"]["id"]), ""}
    in_store = dict(zip(summary[0], stores[str(billed_day["store"]["id"])], strict=True))
    assert fen(in_store["实收净额（元）"]) == trades[0].net_amount


async def test_the_account_bill_shows_every_movement_and_the_payout(
    billed_day: dict[str, Any],
) -> None:
    trades, refunds = billed_day["trades"], billed_day["refunds"]
    runtime, merchant = billed_day["runtime"], billed_day["merchant"]
    account = f"2088{merchant.id:012d}0156"
    _, content = await download(billed_day, bill_type="signcustomer", bill_date="2026-03-01")
    files = read_zip(content)
    comments, rows = files[f"{account}_20260301_账务明细.csv"]
    assert comments[0] == "#支付宝账务明细查询"
    assert column(rows, "业务类型") == ["在线支付"] * 3 + ["交易退款"] * 2 + ["转账"]
    moved = [t.amount - t.fee for t in trades] + [-(r.amount - r.fee_refund) for r in refunds]
    moved.append(-10_00)
    income, spent = column(rows, "收入金额（+元）"), column(rows, "支出金额（-元）")
    assert [fen(i) + fen(s) for i, s in zip(income, spent, strict=True)] == moved
    opening = billed_day["outside"][0].net_amount  # the sale the second before the day
    balances = [fen(b) for b in column(rows, "账户余额（元）")]
    assert balances == [opening + sum(moved[: n + 1]) for n in range(len(moved))]
    payout_row = rows[-1]
    assert payout_row[1] == billed_day["payout"]["order_id"] and payout_row[2] == "payout-1"
    assert comments[-3:-1] == [
        f"#支出合计：3笔，共{yuan(sum(m for m in moved if m < 0))}元",
        f"#收入合计：3笔，共{yuan(sum(m for m in moved if m > 0))}元",
    ]
    _, summary = files[f"{account}_20260301_账务明细(汇总).csv"]
    assert fen(summary[-1][-1]) == sum(moved)
    end = await runtime.payments.merchants.balances(merchant.id)
    refund = billed_day["next_day_refund"]
    later = billed_day["outside"][1].net_amount - (refund.amount - refund.fee_refund)
    assert balances[-1] + later == end["pending_settlement"] + end["available"]


async def test_a_month_bill(billed_day: dict[str, Any]) -> None:
    _, content = await download(billed_day, bill_type="trade", bill_date="2026-02")
    files = read_zip(content)
    ((name, (_, rows)),) = [(n, f) for n, f in files.items() if n.endswith("_业务明细.csv")]
    assert "_202602_" in name
    assert column(rows, "支付宝交易号") == [billed_day["outside"][0].trade_no]


async def test_a_link_expires_after_30_minutes_and_cannot_be_guessed(
    billed_day: dict[str, Any],
) -> None:
    runtime, http = billed_day["runtime"], billed_day["http"]
    url, _ = await download(billed_day, bill_type="trade", bill_date="2026-03-01")
    token = url.rsplit("/", 1)[1]
    assert len(token) >= 43
    guessed = await http.get(f"/gateway/bills/{token[:-1]}{'A' if token[-1] != 'A' else 'B'}")
    assert guessed.status_code == 404
    assert guessed.json()["code"] == "bill_link_not_found"
    start = runtime.clock.now()
    at(start + timedelta(minutes=29), runtime)
    assert (await http.get(url)).status_code == 200
    at(start + timedelta(minutes=30), runtime)
    assert (await http.get(url)).status_code == 404
    at(start, runtime)


async def test_another_merchant_gets_only_its_own_bill(billed_day: dict[str, Any]) -> None:
    runtime, http = billed_day["runtime"], billed_day["http"]
    shop = Shop(runtime)
    other = await shop.merchant()
    stranger = await app_client(runtime, http, other.id)
    for bill_type in ("trade", "signcustomer"):
        answer = await ask(stranger, runtime, QUERY, bill_type=bill_type, bill_date="2026-03-01")
        assert_refused(answer, "40004", "isp.bill_not_exist")
    own = await sale(runtime, shop, other, 8_00)  # today; billed tomorrow
    at(runtime.clock.now() + timedelta(days=1), runtime)
    try:
        day = own.paid_at
        assert day is not None
        date = f"{day.astimezone(BUSINESS_TIMEZONE):%Y-%m-%d}"
        answer = await ask(stranger, runtime, QUERY, bill_type="trade", bill_date=date)
        content = (await http.get(answer["bill_download_url"])).content
        files = read_zip(content)
        (rows,) = [f[1] for n, f in files.items() if n.endswith("_业务明细.csv")]
        assert column(rows, "支付宝交易号") == [own.trade_no]
    finally:
        at(runtime.clock.now() - timedelta(days=1), runtime)


@pytest.mark.parametrize(
    "bill_date",
    [
        "2026-03-02",
        "2026-03-03",
        "2026-03",
        "2027-01",
        "2026-13-01",
        "2026-02-30",
        "20260301",
        "2026-3-1",
        "2026-03-01 ",
    ],
)
async def test_bad_or_unfinished_bill_dates_are_refused(
    billed_day: dict[str, Any], bill_date: str
) -> None:
    # The clock is on 2026-03-02: that day and this month are not over.
    answer = await ask(
        billed_day["alipay"], billed_day["runtime"], QUERY, bill_type="trade", bill_date=bill_date
    )
    assert_refused(answer, "40004", "isv.invalid_arguments")


async def test_unknown_bill_types_are_refused(billed_day: dict[str, Any]) -> None:
    alipay, runtime = billed_day["alipay"], billed_day["runtime"]
    for bill_type in ("fund", "TRADE"):
        answer = await ask(alipay, runtime, QUERY, bill_type=bill_type, bill_date="2026-03-01")
        assert_refused(answer, "40004", "isv.invalid_arguments")
    missing = await ask(alipay, runtime, QUERY, bill_type="trade")
    assert_refused(missing, "40002", "isv.invalid-parameter")
