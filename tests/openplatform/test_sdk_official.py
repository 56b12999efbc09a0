"""A real `zhifu serve` driven by Ant's unmodified PyPI `alipay-sdk-python` (3.7.1411).

The SDK runs in its own venv (`make test` builds it and sets ZHIFU_OFFICIAL_PYTHON) and
reaches the server the only way it can: port 80, an absolute-form request line, common
parameters in the query and biz_content in a form body. Every answer the tests read has
passed the SDK's own signature check (DefaultAlipayClient verifies with the configured
alipay_public_key and raises otherwise).
"""

from __future__ import annotations

import base64
import html
import io
import re
import uuid
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urljoin, urlsplit

import httpx
import pytest

from tests.conftest import LOCAL_RECEIVERS
from tests.e2e.harness import ServerProcess
from tests.openplatform.alipay_client import new_key, pkcs1_private_pem, spki_pem
from tests.openplatform.sdk_apps import (
    OFFICIAL,
    Inbox,
    SdkApp,
    loopback_server,
    register_app,
)
from tests.payments.conftest import PIN, Shop
from zhifu.clock import ManualClock
from zhifu.db.settings import DatabaseSettings
from zhifu.events.settings import WebhookSettings
from zhifu.openplatform.apps import SUPPORTED_METHODS
from zhifu.openplatform.signing import pem_body
from zhifu.payments.acquiring import Order
from zhifu.runtime import Runtime
from zhifu.settings import Settings

pytestmark = OFFICIAL.required()


@pytest.fixture(scope="module")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = loopback_server(database_url, tmp_path_factory.mktemp("official-sdk"))
    yield process
    process.stop()


def gateway(server: ServerProcess) -> str:
    return f"http://{server.host}/gateway.do"  # no port: the SDK cannot send one


def needs_method(method: str) -> pytest.MarkDecorator:
    return pytest.mark.skipif(method not in SUPPORTED_METHODS, reason=f"{method} is not built yet")


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    made = Inbox()
    yield made
    made.close()


async def new_app(runtime: Runtime, server: ServerProcess, **options: Any) -> SdkApp:
    merchant = await Shop(runtime).merchant()
    return await register_app(runtime, OFFICIAL, gateway(server), merchant.id, **options)


def order(total: str, **more: Any) -> dict[str, Any]:
    return {"out_trade_no": f"T{uuid.uuid4().hex[:16]}", "total_amount": total,
            "subject": "测试 order", **more}  # fmt: skip


def call(method: str, biz: dict[str, Any], **more: Any) -> dict[str, Any]:
    return {"method": method, "biz": biz, **more}


def answers(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The verified nodes; every call must have been answered and verified."""
    assert all("response" in result for result in results), results
    return [result["response"] for result in results]


def succeeded(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The verified nodes of calls the SDK's `is_success()` counts as successes."""
    assert all(result.get("success") for result in results), results
    return answers(results)


async def test_qr_order_paid_in_the_app_then_created_and_closed(
    server: ServerProcess, runtime: Runtime, inbox: Inbox
) -> None:
    app = await new_app(runtime, server)
    asked = order("100.00")
    ref = {"out_trade_no": asked["out_trade_no"]}
    made, waiting = succeeded(
        app.run(
            call("alipay.trade.precreate", asked, notify_url=inbox.url),
            call("alipay.trade.query", ref),
        )
    )
    assert made["code"] == "10000" and made["qr_code"]
    assert made["out_trade_no"] == ref["out_trade_no"]
    assert (waiting["trade_status"], waiting["receipt_amount"]) == ("WAIT_BUYER_PAY", "0.00")

    buyer = await Shop(runtime).consumer(balance=50_000)
    await runtime.payments.paying.pay_trade(waiting["trade_no"], buyer, pin=PIN)
    (paid,) = succeeded(app.run(call("alipay.trade.query", {"trade_no": waiting["trade_no"]})))
    assert paid["trade_status"] == "TRADE_SUCCESS"
    assert paid["total_amount"] == paid["receipt_amount"] == "100.00"
    assert paid["buyer_user_id"] == f"2088{buyer:012d}"
    assert paid["fund_bill_list"] == [{"fund_channel": "ALIPAYACCOUNT", "amount": "100.00"}]
    notified = await inbox.next()
    assert (notified["out_trade_no"], notified["trade_status"]) == (
        ref["out_trade_no"], "TRADE_SUCCESS"
    )  # fmt: skip
    assert app.run({"verify": notified}) == [{"verified": True}]
    (forged,) = app.run({"verify": {**notified, "total_amount": "1.00"}})
    assert forged["error"] == "VerificationError"  # rsa.verify raises on a bad signature

    for_buyer = order("5.00", buyer_id=f"2088{buyer:012d}")
    unpaid = order("6.00")
    created, closed, queried, made_again, cancelled = succeeded(
        app.run(
            call("alipay.trade.create", for_buyer),
            call("alipay.trade.close", {"out_trade_no": for_buyer["out_trade_no"]}),
            call("alipay.trade.query", {"out_trade_no": for_buyer["out_trade_no"]}),
            call("alipay.trade.create", unpaid),
            call("alipay.trade.cancel", {"out_trade_no": unpaid["out_trade_no"]}),
        )
    )
    assert created["trade_no"] and closed["trade_no"] == created["trade_no"]
    assert queried["trade_status"] == "TRADE_CLOSED"
    assert (cancelled["action"], cancelled["retry_flag"]) == ("close", "N")
    assert cancelled["trade_no"] == made_again["trade_no"]
    assert await Shop(runtime).wallet_balance(buyer) == 40_000


async def test_bar_code_payment_refunded_in_parts_then_cancelled(
    server: ServerProcess, runtime: Runtime
) -> None:
    app = await new_app(runtime, server)
    shop = Shop(runtime)
    buyer = await shop.consumer(balance=50_000)
    code = (await runtime.payments.devices.current_code(buyer)).code
    scanned = order("66.60", scene="bar_code", auth_code=code)
    ref = {"out_trade_no": scanned["out_trade_no"]}

    def refund(amount: str, number: str, **where: str) -> dict[str, Any]:
        biz = {**(where or ref), "refund_amount": amount, "out_request_no": number}
        return call("alipay.trade.refund", biz)

    (paid,) = succeeded(app.run(call("alipay.trade.pay", scanned)))
    assert (paid["code"], paid["trade_status"]) == ("10000", "TRADE_SUCCESS")
    assert paid["total_amount"] == paid["buyer_pay_amount"] == "66.60"
    assert paid["buyer_user_id"] == f"2088{buyer:012d}" and paid["gmt_payment"]
    assert await shop.wallet_balance(buyer) == 50_000 - 6_660

    first, second, replay, queried, unknown, cancelled, closed = succeeded(
        app.run(
            refund("20.00", "r1"),
            refund("6.60", "r2", trade_no=paid["trade_no"]),
            refund("20.00", "r1"),
            call("alipay.trade.fastpay.refund.query", {**ref, "out_request_no": "r1"}),
            call("alipay.trade.fastpay.refund.query", {**ref, "out_request_no": "nope"}),
            call("alipay.trade.cancel", ref),
            call("alipay.trade.query", ref),
        )
    )
    assert (first["fund_change"], first["refund_fee"], first["send_back_fee"]) == (
        "Y", "20.00", "20.00"
    )  # fmt: skip
    assert (second["fund_change"], second["refund_fee"]) == ("Y", "26.60")
    assert (replay["fund_change"], replay["refund_fee"]) == ("N", "26.60")
    assert (queried["refund_status"], queried["refund_amount"]) == ("REFUND_SUCCESS", "20.00")
    assert unknown["code"] == "10000" and "refund_amount" not in unknown
    assert cancelled["action"] == "refund"
    assert closed["trade_status"] == "TRADE_CLOSED"
    assert await shop.wallet_balance(buyer) == 50_000

    # Above the buyer's password-free allowance: 10003, the buyer confirms with the PIN.
    code = (await runtime.payments.devices.current_code(buyer)).code
    big = order("300.00", scene="bar_code", auth_code=code)
    (waiting,) = succeeded(app.run(call("alipay.trade.pay", big)))
    assert (waiting["code"], waiting["trade_status"]) == ("10003", "WAIT_BUYER_PAY")


async def test_refusals_reach_the_sdk_signed_with_their_codes(
    server: ServerProcess, runtime: Runtime
) -> None:
    app = await new_app(runtime, server)
    other = await new_app(runtime, server)
    asked = order("9.99")
    ref = {"out_trade_no": asked["out_trade_no"]}
    succeeded(app.run(call("alipay.trade.create", asked)))

    def refused(client: SdkApp, *calls: dict[str, Any]) -> list[str]:
        results = client.run(*calls)
        assert not any(result.get("success") for result in results), results
        nodes = answers(results)
        assert all(node.get("sub_msg") for node in nodes), nodes
        return [f"{node['code']} {node['sub_code']}" for node in nodes]

    refund = {**ref, "refund_amount": "1.00"}
    assert refused(
        app,
        call("alipay.trade.precreate", order("9.999")),
        call("alipay.trade.precreate", order("-1.00")),
        call("alipay.trade.precreate", order("1e3")),
        call("alipay.trade.precreate", order("100000000.01")),
        call("alipay.trade.query", ref, clock_offset_s=-2 * 86400),
        call("alipay.trade.order.settle", {"trade_no": "1", "out_request_no": "s1"}),
    ) == ["40002 isv.invalid-parameter"] * 4 + [
        "40002 isv.invalid-timestamp",
        "40002 isv.invalid-method",
    ]
    assert (
        refused(other, call("alipay.trade.query", ref), call("alipay.trade.refund", refund))
        == ["40004 ACQ.TRADE_NOT_EXIST"] * 2
    )

    forged = app.variant(app_private_key=pkcs1_private_pem(new_key()))
    assert refused(forged, call("alipay.trade.query", ref)) == ["40002 isv.invalid-signature"]
    stranger = app.variant(app_id="2021999999999999")
    assert refused(stranger, call("alipay.trade.query", ref)) == ["40002 isv.invalid-app-id"]

    merchant_id = (await runtime.openplatform.apps.get(app.job["app_id"])).merchant_id
    key = new_key()
    limited = await runtime.openplatform.create_app(
        merchant_id, spki_pem(key), methods=["alipay.trade.query"]
    )
    narrow = app.variant(app_id=limited.app_id, app_private_key=pkcs1_private_pem(key))
    assert answers(narrow.run(call("alipay.trade.query", ref)))[0]["code"] == "10000"
    denied = refused(narrow, call("alipay.trade.refund", refund))
    assert denied == ["40006 isv.insufficient-isv-permissions"]


async def test_the_sdk_rejects_an_answer_it_cannot_verify(
    server: ServerProcess, runtime: Runtime
) -> None:
    """The SDK checks zhifu's signature: configured with another platform key, it refuses
    the very answers the tests above read."""
    app = await new_app(runtime, server)
    impostor = app.variant(alipay_public_key=pem_body(spki_pem(new_key())))
    (result,) = impostor.run(call("alipay.trade.precreate", order("1.00")))
    assert result["error"] == "ResponseException"
    assert "verify failed" in result["detail"]


def form_fields(page: str) -> tuple[str, dict[str, str]]:
    """The action and hidden fields of page_execute's auto-submitting form."""
    action = re.search(r'<form name="punchout_form" method="post" action="([^"]+)"', page)
    assert action, page
    fields = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page)
    return action.group(1), {name: html.unescape(value) for name, value in fields}


async def buyer_pays_at_the_checkout(browser: httpx.AsyncClient, checkout: str, phone: str) -> str:
    """The buyer signs in on zhifu's hosted checkout and pays with the PIN; returns where
    the browser is sent next (never followed: it is the merchant's site)."""
    csrf = re.compile(r'name="csrf_token" value="([0-9a-f]{64})"')

    async def submit(action: str, **fields: str) -> httpx.Response:
        page = await browser.get(checkout)
        token = csrf.search(page.text)
        assert page.status_code == 200 and token, page.text
        data = {"csrf_token": token.group(1), **fields}
        return await browser.post(f"{checkout}/{action}", data=data)

    signed_in = await submit("login", phone=phone, password="password-123")
    assert signed_in.status_code == 303, signed_in.text
    paid = await submit("pay", source="wallet", pin=PIN)
    assert paid.status_code == 303, paid.text
    return paid.headers["location"]


def page_pay(total: str, **more: Any) -> dict[str, Any]:
    return call(
        "alipay.trade.page.pay", order(total, product_code="FAST_INSTANT_TRADE_PAY"), **more
    )


@needs_method("alipay.trade.page.pay")
async def test_page_pay_form_to_the_hosted_cashier_and_back(
    server: ServerProcess, runtime: Runtime, inbox: Inbox
) -> None:
    app = await new_app(runtime, server)
    buyer = await Shop(runtime).consumer(balance=50_000)
    phone = (await runtime.users.get(buyer)).phone
    return_url = "http://127.0.0.1:9/shop/back?order=7"  # a browser's target, never fetched
    asked = page_pay("12.34", page="POST", return_url=return_url, notify_url=inbox.url)
    (made,) = app.run(asked)
    action, fields = form_fields(made["page"])
    assert action.startswith(gateway(server) + "?") and "biz_content" in fields

    site = f"http://{server.host}/"
    async with httpx.AsyncClient(base_url=site, follow_redirects=False) as browser:
        opened = await browser.post(action, data=fields)
        assert opened.status_code == 303, opened.text
        checkout = urljoin(site, opened.headers["location"])
        back = await buyer_pays_at_the_checkout(browser, checkout, phone)

        # The same kind of order as a GET link (page_execute's other form).
        (link,) = app.run(page_pay("3.00", page="GET"))
        linked = await browser.get(link["page"])
        assert linked.status_code == 303 and "/checkout/" in linked.headers["location"]

    assert back.startswith("http://127.0.0.1:9/shop/back?")
    returned = dict(parse_qsl(urlsplit(back).query))
    assert returned["method"] == "alipay.trade.page.pay.return" and returned["order"] == "7"
    out_trade_no = asked["biz"]["out_trade_no"]
    assert (returned["out_trade_no"], returned["total_amount"]) == (out_trade_no, "12.34")
    assert app.run({"verify": returned}) == [{"verified": True}]
    notified = await inbox.next()
    assert (notified["out_trade_no"], notified["trade_status"]) == (out_trade_no, "TRADE_SUCCESS")
    assert app.run({"verify": notified}) == [{"verified": True}]
    (paid,) = succeeded(app.run(call("alipay.trade.query", {"trade_no": returned["trade_no"]})))
    assert (paid["trade_status"], paid["buyer_user_id"]) == ("TRADE_SUCCESS", f"2088{buyer:012d}")
    assert await Shop(runtime).wallet_balance(buyer) == 50_000 - 1_234


@needs_method("alipay.fund.trans.uni.transfer")
async def test_payouts_from_the_merchant_balance(server: ServerProcess, runtime: Runtime) -> None:
    app = await new_app(runtime, server)
    shop = Shop(runtime)
    buyer = await shop.consumer(balance=50_000)
    code = (await runtime.payments.devices.current_code(buyer)).code
    succeeded(app.run(call("alipay.trade.pay", order("100.00", scene="bar_code", auth_code=code))))
    payee = await shop.consumer(balance=0)
    phone = (await runtime.users.get(payee)).phone

    def transfer(number: str, amount: str, identity: str, kind: str) -> dict[str, Any]:
        biz = {"out_biz_no": number, "trans_amount": amount, "product_code": "TRANS_ACCOUNT_NO_PWD",
               "biz_scene": "DIRECT_TRANSFER", "order_title": "refund of deposit",
               "payee_info": {"identity": identity, "identity_type": kind}}  # fmt: skip
        return call("alipay.fund.trans.uni.transfer", biz)

    by_id = transfer("P1", "30.00", f"2088{payee:012d}", "ALIPAY_USER_ID")
    first, by_phone, again, queried = succeeded(
        app.run(
            by_id,
            transfer("P2", "5.00", phone, "ALIPAY_LOGON_ID"),
            by_id,
            call("alipay.fund.trans.common.query", {"out_biz_no": "P1"}),
        )
    )
    assert (first["status"], first["out_biz_no"]) == ("SUCCESS", "P1") and first["order_id"]
    assert by_phone["status"] == "SUCCESS"
    assert again["order_id"] == first["order_id"]
    assert (queried["status"], queried["trans_amount"]) == ("SUCCESS", "30.00")
    assert await shop.wallet_balance(payee) == 3_500

    (refused,) = app.run(transfer("P3", "1000.00", phone, "ALIPAY_LOGON_ID"))
    assert not refused["success"]
    assert refused["response"]["sub_code"] == "PAYER_BALANCE_NOT_ENOUGH"


@needs_method("alipay.data.dataservice.bill.downloadurl.query")
async def test_yesterdays_bill_downloads(
    server: ServerProcess, runtime: Runtime, tmp_path: Path
) -> None:
    """Yesterday's trades, made on a zhifu whose clock says yesterday; the server (on
    today's clock) hands the bill out through the SDK."""
    beijing = datetime.now(UTC) + timedelta(hours=8)
    yesterday = (beijing - timedelta(days=1)).date()
    noon = datetime(yesterday.year, yesterday.month, yesterday.day, 4, tzinfo=UTC)
    settings = Settings(
        db=DatabaseSettings(database_url=server.database_url, data_dir=tmp_path),
        webhooks=WebhookSettings(allow_hosts=LOCAL_RECEIVERS),
    )
    past = await Runtime.start(settings, clock=ManualClock(noon))
    try:
        shop = Shop(past)
        merchant = await shop.merchant()
        buyer = await shop.consumer(balance=50_000)
        code = (await past.payments.devices.current_code(buyer)).code
        sold = Order(out_trade_no=f"B{uuid.uuid4().hex[:12]}", amount=4_321, subject="昨天的茶")
        await past.payments.methods.pay_with_code(merchant, sold, code)
    finally:
        await past.close()
    app = await register_app(runtime, OFFICIAL, gateway(server), merchant.id)

    query = {"bill_type": "trade", "bill_date": yesterday.isoformat()}
    (bill,) = succeeded(app.run(call("alipay.data.dataservice.bill.downloadurl.query", query)))
    url = bill["bill_download_url"]
    assert url.startswith(f"http://{server.host}/")
    async with httpx.AsyncClient() as http:
        download = await http.get(url)
    assert download.status_code == 200, download.text
    with zipfile.ZipFile(io.BytesIO(download.content)) as archive:
        detail = next(name for name in archive.namelist() if name.endswith("业务明细.csv"))
        text = archive.read(detail).decode("gbk")
    assert sold.out_trade_no in text and "43.21" in text and "昨天的茶" in text

    today = {"bill_type": "trade", "bill_date": (yesterday + timedelta(days=1)).isoformat()}
    (refused,) = app.run(call("alipay.data.dataservice.bill.downloadurl.query", today))
    assert not refused["success"] and refused["response"]["code"] == "40004"


@pytest.mark.parametrize("charset", ["GBK", "GB2312"])
async def test_the_sdk_configured_with_a_gbk_charset(
    server: ServerProcess, runtime: Runtime, charset: str
) -> None:
    app = (await new_app(runtime, server)).variant(charset=charset)
    shop = Shop(runtime)
    buyer = await shop.consumer(balance=50_000)
    code = (await runtime.payments.devices.current_code(buyer)).code
    scanned = order("12.00", scene="bar_code", auth_code=code, body="测试 龙井 茶")
    ref = {"out_trade_no": scanned["out_trade_no"]}
    paid, queried, refunded = succeeded(
        app.run(
            call("alipay.trade.pay", scanned),
            call("alipay.trade.query", ref),
            call("alipay.trade.refund", {**ref, "refund_amount": "2.00", "refund_reason": "退款"}),
        )
    )
    assert paid["trade_status"] == queried["trade_status"] == "TRADE_SUCCESS"
    assert refunded["fund_change"] == "Y"
    trade = await runtime.payments.trades.get(
        (await runtime.openplatform.apps.get(app.job["app_id"])).merchant_id, **ref
    )
    assert trade.subject == "测试 order"  # read in GBK, not mojibake
    refunds = await runtime.payments.refunds.list_refunds(trade.merchant_id, trade.trade_no)
    assert [refund.reason for refund in refunds] == ["退款"]


async def test_the_sdk_configured_with_aes_content_encryption(
    server: ServerProcess, runtime: Runtime
) -> None:
    plain = await new_app(runtime, server)
    key = await runtime.openplatform.new_aes_key(plain.job["app_id"])
    for app in (plain.variant(encrypt_key=key), plain.variant(encrypt_key=key, charset="GBK")):
        asked = order("30.00")
        ref = {"out_trade_no": asked["out_trade_no"]}
        made, waiting = succeeded(
            app.run(call("alipay.trade.precreate", asked), call("alipay.trade.query", ref))
        )
        assert made["out_trade_no"] == asked["out_trade_no"] and made["qr_code"]
        assert waiting["trade_status"] == "WAIT_BUYER_PAY"
        (missing,) = app.run(call("alipay.trade.query", {"out_trade_no": "none"}))
        assert missing["success"] is False  # verified, decrypted, and refused
        assert missing["response"]["sub_code"] == "ACQ.TRADE_NOT_EXIST"
    (unreadable,) = plain.variant(encrypt_key=base64.b64encode(bytes(16)).decode()).run(
        call("alipay.trade.query", {"out_trade_no": "none"})
    )
    assert unreadable["response"]["sub_code"] == "isv.decryption-error-unknown"


async def test_an_rsa_app_through_the_sdk(
    server: ServerProcess, runtime: Runtime, inbox: Inbox
) -> None:
    app = (await new_app(runtime, server, sign_type="RSA")).variant(sign_type="RSA")
    asked = order("5.00")
    (made,) = succeeded(app.run(call("alipay.trade.precreate", asked, notify_url=inbox.url)))
    trade = await runtime.payments.trades.get(
        (await runtime.openplatform.apps.get(app.job["app_id"])).merchant_id,
        out_trade_no=made["out_trade_no"],
    )
    await runtime.payments.paying.pay_trade(trade.trade_no, await Shop(runtime).consumer(), pin=PIN)
    notified = await inbox.next()
    assert notified["sign_type"] == "RSA"
    assert app.run({"verify": notified}) == [{"verified": True}]


async def test_six_sdk_clients_racing_one_refund_are_told_y_once(
    server: ServerProcess, runtime: Runtime
) -> None:
    app = await new_app(runtime, server)
    buyer = await Shop(runtime).consumer(balance=50_000)
    code = (await runtime.payments.devices.current_code(buyer)).code
    scanned = order("60.00", scene="bar_code", auth_code=code)
    (paid,) = succeeded(app.run(call("alipay.trade.pay", scanned)))
    refund = call(
        "alipay.trade.refund",
        {"trade_no": paid["trade_no"], "refund_amount": "15.00", "out_request_no": "race"},
    )
    results = app.run_clients([[refund] for _ in range(6)])
    answered = [succeeded(result)[0] for result in results]
    assert sorted(answer["fund_change"] for answer in answered) == ["N"] * 5 + ["Y"]
    assert {answer["refund_fee"] for answer in answered} == {"15.00"}
    assert await Shop(runtime).wallet_balance(buyer) == 50_000 - 6_000 + 1_500
