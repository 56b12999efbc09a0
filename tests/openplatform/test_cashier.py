"""alipay.trade.page.pay / wap.pay / app.pay through zhifu's hosted cashier: a browser
brings the merchant's signed order to /gateway.do, is sent to the checkout, signs in,
pays with the PIN and comes back to return_url with Alipay's signed return parameters;
the payment is notified to notify_url."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from tests.events.support import Receiver
from tests.identity.support import PIN
from tests.openplatform.alipay_client import AlipayTestClient, pkcs1_private_pem, sign_params
from tests.openplatform.conftest import app_client
from tests.openplatform.notify_support import (
    BEIJING,
    SUCCESS,
    Zhifu,
    form_fields,
    fzlee,
    private_zhifu,
    verify_notify_signature,
)
from tests.openplatform.test_sdk_fzlee import sdk_available
from tests.web.test_checkout import Browser, Checkout
from zhifu.payments import TradeNotFound

RETURN_URL = "https://shop.example/alipay/return?from=zhifu"
PAGE_PAY = "alipay.trade.page.pay"
RETURN_FIELDS = {
    "method", "app_id", "auth_app_id", "charset", "out_trade_no", "trade_no",
    "total_amount", "seller_id", "timestamp", "version", "sign_type", "sign",
}  # fmt: skip


@pytest.fixture(scope="module")
async def zhifu(server_urls: dict[str, str]) -> AsyncIterator[Zhifu]:
    async with private_zhifu(server_urls["embedded"]) as env:
        yield env


@pytest.fixture
async def checkout(zhifu: Zhifu) -> AsyncIterator[Checkout]:
    shop = Checkout(zhifu.runtime)
    yield shop
    for http in shop.browsers:
        await http.aclose()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A merchant's server: it answers `success`, unless a test scripts otherwise."""
    server = Receiver().start()
    server.script([], then=SUCCESS)
    yield server
    server.stop()


def page_order(**more: str) -> dict[str, str]:
    biz = {
        "out_trade_no": uuid.uuid4().hex,
        "total_amount": "25.80",
        "subject": "龙井 green tea",
        "product_code": "FAST_INSTANT_TRADE_PAY",
    }
    return biz | more


def signed_order(
    zhifu: Zhifu,
    alipay: AlipayTestClient,
    biz: dict[str, Any],
    method: str = PAGE_PAY,
    style: str = "fzlee",
    **common: str,
) -> dict[str, str]:
    """What the merchant's SDK hands the browser: the order's parameters, signed."""
    params = {
        **alipay.params(method, biz, "official" if style == "official" else "fzlee"),
        "timestamp": zhifu.timestamp(),
        "return_url": RETURN_URL,
        **common,
    }
    return sign_params(params, alipay.private_key)


async def open_order(
    browser: Browser, params: dict[str, str], style: str = "fzlee"
) -> httpx.Response:
    """The browser brings the order to the gateway: fzlee's query string, or the official
    SDK's auto-submitting form (common parameters in the action URL, biz_content posted)."""
    if style == "fzlee":
        return await browser.http.get("/gateway.do", params=params)
    body = {"biz_content": params.pop("biz_content")}
    return await browser.http.post("/gateway.do", params=params, data=body)


def trade_no_of(opened: httpx.Response) -> str:
    assert opened.status_code == 303, opened.text
    path = opened.headers["location"]
    assert path.startswith("/checkout/"), path
    return path.removeprefix("/checkout/")


def returned(location: str) -> dict[str, str]:
    parts = urlsplit(location)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == RETURN_URL.split("?")[0]
    return dict(parse_qsl(parts.query))


async def test_a_page_pay_order_is_paid_at_the_checkout_and_returns_signed(
    zhifu: Zhifu, checkout: Checkout, receiver: Receiver
) -> None:
    alipay, merchant_id = await zhifu.app()
    biz = page_order(passback_params="order%3D9", timeout_express="30m")
    params = signed_order(zhifu, alipay, biz, notify_url=receiver.url)
    consumer = await checkout.consumer(balance=10_000)
    browser = checkout.browser()

    trade_no = trade_no_of(await open_order(browser, params))

    trade = await zhifu.runtime.payments.trades.by_trade_no(trade_no)
    assert (trade.state, trade.amount, trade.out_trade_no) == (
        "WAIT_BUYER_PAY",
        2580,
        biz["out_trade_no"],
    )
    assert (trade.notify_url, trade.return_url, trade.merchant_id) == (
        receiver.url,
        RETURN_URL,
        merchant_id,
    )
    assert trade.expires_at == zhifu.clock.now() + timedelta(minutes=30)
    page = await browser.sign_in(trade_no, consumer.phone)
    assert "龙井 green tea" in page.text
    paid = await browser.submit(trade_no, "pay", source="wallet", pin=PIN)

    assert paid.status_code == 303, paid.text
    back = returned(paid.headers["location"])
    assert set(back) == RETURN_FIELDS | {"from"}
    assert verify_notify_signature(back, alipay.platform_key)
    assert back["method"] == "alipay.trade.page.pay.return"
    assert (back["app_id"], back["auth_app_id"]) == (alipay.app_id, alipay.app_id)
    assert (back["out_trade_no"], back["trade_no"]) == (biz["out_trade_no"], trade_no)
    assert (back["total_amount"], back["from"]) == ("25.80", "zhifu")
    assert back["seller_id"] == f"2088{merchant_id:012d}"
    assert await checkout.balance(consumer) == 10_000 - 2580

    await zhifu.deliver()
    (notification,) = [form_fields(request.body) for request in receiver.received]
    assert verify_notify_signature(notification, alipay.platform_key)
    assert (notification["trade_no"], notification["trade_status"]) == (trade_no, "TRADE_SUCCESS")
    assert notification["passback_params"] == "order%3D9"
    assert notification["buyer_id"] == f"2088{consumer.user_id:012d}"
    await checkout.books_balance()


async def test_reopening_an_order_shows_the_same_trade_and_a_changed_one_is_refused(
    zhifu: Zhifu, checkout: Checkout
) -> None:
    alipay, _ = await zhifu.app()
    biz = page_order()
    browser = checkout.browser()
    first = trade_no_of(await open_order(browser, signed_order(zhifu, alipay, biz)))

    again = trade_no_of(await open_order(browser, signed_order(zhifu, alipay, biz)))
    changed = {**biz, "total_amount": "99.00"}
    refused = await open_order(browser, signed_order(zhifu, alipay, changed))

    assert again == first
    assert refused.status_code == 400
    assert "ACQ.CONTEXT_INCONSISTENT" in refused.text
    assert refused.headers["content-type"].startswith("text/html")


async def test_a_wrong_signature_gets_an_error_page_and_makes_no_trade(
    zhifu: Zhifu, checkout: Checkout
) -> None:
    alipay, merchant_id = await zhifu.app()
    biz = page_order()
    params = signed_order(zhifu, alipay, biz)
    params["biz_content"] = params["biz_content"].replace("25.80", "0.01")

    refused = await open_order(checkout.browser(), params)

    assert refused.status_code == 400
    assert "isv.invalid-signature" in refused.text
    with pytest.raises(TradeNotFound):
        await zhifu.runtime.payments.trades.get(merchant_id, out_trade_no=biz["out_trade_no"])
    assert (
        await zhifu.runtime.openplatform.cashier.origins.get(merchant_id, biz["out_trade_no"])
        is None
    )


@pytest.mark.parametrize(
    ("method", "product_code"),
    [
        ("alipay.trade.wap.pay", "QUICK_WAP_WAY"),
        ("alipay.trade.wap.pay", "QUICK_WAP_PAY"),
        ("alipay.trade.app.pay", "QUICK_MSECURITY_PAY"),
        (PAGE_PAY, "FAST_INSTANT_TRADE_PAY"),
    ],
)
async def test_each_method_takes_its_product_codes_in_either_sdks_form(
    zhifu: Zhifu, checkout: Checkout, method: str, product_code: str
) -> None:
    alipay, _ = await zhifu.app()
    browser = checkout.browser()
    expire = (zhifu.clock.now() + timedelta(hours=2)).astimezone(BEIJING)
    biz = page_order(product_code=product_code, time_expire=expire.strftime("%Y-%m-%d %H:%M:%S"))
    params = signed_order(zhifu, alipay, biz, method, style="official")

    trade_no = trade_no_of(await open_order(browser, params, style="official"))

    trade = await zhifu.runtime.payments.trades.by_trade_no(trade_no)
    assert trade.expires_at == expire.replace(microsecond=0)
    wrong = page_order(product_code="FACE_TO_FACE_PAYMENT")
    refused = await open_order(browser, signed_order(zhifu, alipay, wrong, method))
    assert refused.status_code == 400 and "isv.invalid-parameter" in refused.text


async def test_an_app_not_allowed_the_method_is_refused(zhifu: Zhifu, checkout: Checkout) -> None:
    merchant = await zhifu.shop.merchant()
    alipay = await app_client(
        zhifu.runtime, zhifu.http, merchant.id, methods=["alipay.trade.query"]
    )
    refused = await open_order(checkout.browser(), signed_order(zhifu, alipay, page_order()))
    assert refused.status_code == 400 and "isv.insufficient-isv-permissions" in refused.text


@pytest.mark.skipif(not sdk_available(), reason="python-alipay-sdk (fzlee) is not installed")
async def test_fzlees_page_pay_order_opens_the_cashier_and_its_return_verifies(
    zhifu: Zhifu, checkout: Checkout
) -> None:
    alipay, _ = await zhifu.app()
    job: dict[str, Any] = {
        "app_id": alipay.app_id,
        "app_private_key": pkcs1_private_pem(alipay.private_key),
        "alipay_public_key": await zhifu.runtime.openplatform.platform_public_key(),
    }
    out_trade_no = uuid.uuid4().hex
    order = {"subject": "测试 tea", "out_trade_no": out_trade_no, "total_amount": "9.90"}
    (query,) = fzlee({**job, "steps": [{"page_pay": {**order, "return_url": RETURN_URL}}]})
    consumer = await checkout.consumer()
    browser = checkout.browser()

    trade_no = trade_no_of(await browser.http.get(f"/gateway.do?{query}"))
    await browser.sign_in(trade_no, consumer.phone)
    paid = await browser.submit(trade_no, "pay", source="wallet", pin=PIN)

    back = returned(paid.headers["location"])
    assert back["out_trade_no"] == out_trade_no
    assert fzlee({**job, "steps": [{"verify": back}, {"verify": {**back, "from": "x"}}]}) == [
        True,
        False,
    ]
