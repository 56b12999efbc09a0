"""The hosted checkout page over HTTP: sign in, pick a funding source, pay, go back."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.funding.support import card_number
from tests.identity.support import PASSWORD, PIN, fund, new_user, random_phone
from zhifu.api.app import create_app
from zhifu.payments import NewTrade, Trade
from zhifu.runtime import Runtime
from zhifu.web.kit import csrf

RETURN_URL = "https://shop.example/orders/back?from=zhifu"
CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]{64})"')


@dataclass
class Browser:
    """One person's browser: its own cookies, and the last page it was shown."""

    http: httpx.AsyncClient
    page: httpx.Response | None = None

    async def open(self, trade_no: str) -> httpx.Response:
        self.page = await self.http.get(f"/checkout/{trade_no}")
        return self.page

    @property
    def csrf_token(self) -> str:
        assert self.page is not None
        found = CSRF.search(self.page.text)
        assert found, self.page.text
        return found.group(1)

    async def submit(self, trade_no: str, action: str, **fields: str) -> httpx.Response:
        """Post a form of the last page, as a person pressing its button would."""
        data = {"csrf_token": self.csrf_token, **fields}
        return await self.http.post(f"/checkout/{trade_no}/{action}", data=data)

    def own_token(self) -> str:
        """The token a page would carry for this browser: what someone who crafts the
        request by hand from their own cookies can send."""
        cookies = self.http.cookies
        return csrf.form_token(cookies["zhifu_csrf"], cookies.get("zhifu_session"))

    async def sign_in(self, trade_no: str, phone: str) -> httpx.Response:
        await self.open(trade_no)
        signed_in = await self.submit(trade_no, "login", phone=phone, password=PASSWORD)
        assert signed_in.status_code == 303, signed_in.text
        return await self.open(trade_no)


@dataclass(frozen=True)
class Consumer:
    user_id: int
    phone: str


@dataclass
class Checkout:
    runtime: Runtime
    browsers: list[httpx.AsyncClient] = field(default_factory=list)

    def browser(self, base_url: str = "http://zhifu.test") -> Browser:
        transport = httpx.ASGITransport(app=create_app(self.runtime))
        http = httpx.AsyncClient(transport=transport, base_url=base_url)
        self.browsers.append(http)
        return Browser(http)

    async def consumer(self, balance: int = 100_000) -> Consumer:
        phone = random_phone()
        user_id = await new_user(self.runtime.users, tier=3, phone=phone)
        if balance:
            wallet = await self.runtime.users.wallet(user_id)
            await fund(self.runtime.db, self.runtime.ledger, wallet, balance)
        return Consumer(user_id, phone)

    async def trade(
        self, amount: int = 1_234, return_url: str | None = RETURN_URL, buyer: int | None = None
    ) -> Trade:
        merchant, _ = await self.runtime.payments.merchants.create(
            f"Tea House {uuid.uuid4().hex[:6]}"
        )
        request = NewTrade(
            out_trade_no=uuid.uuid4().hex,
            amount=amount,
            subject="Longjing green tea, 250 g",
            return_url=return_url,
            buyer_user_id=buyer,
        )
        return await self.runtime.payments.trades.create(merchant, request)

    async def trade_state(self, trade_no: str) -> str:
        return (await self.runtime.payments.trades.by_trade_no(trade_no)).state

    async def balance(self, consumer: Consumer) -> int:
        return (await self.runtime.transfers.balance(consumer.user_id)).available

    async def link_card(self, consumer: Consumer, last4: str = "1111") -> int:
        return (await self.runtime.cards.link(consumer.user_id, card_number(last4))).id

    async def books_balance(self) -> None:
        report = await self.runtime.ledger.verify()
        assert report.ok, report.breaches


@pytest.fixture
async def checkout(runtime: Runtime) -> AsyncIterator[Checkout]:
    shop = Checkout(runtime)
    yield shop
    for http in shop.browsers:
        await http.aclose()


def labelled_inputs(html: str) -> bool:
    """Whether every visible input has a <label for> naming it."""
    inputs = re.findall(r"<input\b[^>]*>", html)
    ids = [re.search(r'\bid="([^"]+)"', tag) for tag in inputs if 'type="hidden"' not in tag]
    labels = set(re.findall(r'<label[^>]*\bfor="([^"]+)"', html))
    return all(found is not None and found.group(1) in labels for found in ids)


def query_of(location: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(location).query)


# The page and signing in.


async def test_page_shows_the_trade_and_a_sign_in_form(checkout: Checkout) -> None:
    trade = await checkout.trade(amount=1_234)
    page = await checkout.browser().open(trade.trade_no)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "Tea House" in page.text and "Longjing green tea, 250 g" in page.text
    assert "¥12.34" in page.text
    assert 'name="phone"' in page.text and 'name="password"' in page.text
    assert labelled_inputs(page.text)
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    cookie = page.headers["set-cookie"].lower()
    assert "zhifu_csrf=" in cookie and "httponly" in cookie and "samesite=lax" in cookie
    assert "secure" not in cookie  # served over plain http
    css = await checkout.browser().http.get("/static/checkout.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")


async def test_unknown_trade_is_not_found(checkout: Checkout) -> None:
    page = await checkout.browser().open("20260101" + "9" * 16)
    assert page.status_code == 404 and "Payment not found" in page.text


async def test_wrong_password_is_shown_at_the_field(checkout: Checkout) -> None:
    trade = await checkout.trade()
    alice = await checkout.consumer()
    browser = checkout.browser()
    await browser.open(trade.trade_no)
    refused = await browser.submit(trade.trade_no, "login", phone=alice.phone, password="nope")
    assert refused.status_code == 401
    assert "Wrong phone number or password." in refused.text
    assert 'aria-invalid="true"' in refused.text and alice.phone in refused.text
    empty = await browser.submit(trade.trade_no, "login", phone="", password="")
    assert empty.status_code == 422 and "Enter your phone number." in empty.text


async def test_repeated_wrong_passwords_lock_the_sign_in(checkout: Checkout) -> None:
    trade = await checkout.trade()
    alice = await checkout.consumer()
    browser = checkout.browser()
    await browser.open(trade.trade_no)
    for _ in range(4):
        await browser.submit(trade.trade_no, "login", phone=alice.phone, password="nope")
    locked = await browser.submit(trade.trade_no, "login", phone=alice.phone, password="nope")
    assert locked.status_code == 423 and "sign-in is locked until" in locked.text
    right = await browser.submit(trade.trade_no, "login", phone=alice.phone, password=PASSWORD)
    assert right.status_code == 423


async def test_session_cookie_is_secure_over_https(checkout: Checkout) -> None:
    trade = await checkout.trade()
    alice = await checkout.consumer()
    browser = checkout.browser("https://zhifu.test")
    await browser.open(trade.trade_no)
    signed_in = await browser.submit(trade.trade_no, "login", phone=alice.phone, password=PASSWORD)
    assert signed_in.status_code == 303
    cookie = signed_in.headers["set-cookie"].lower()
    assert "zhifu_session=" in cookie
    assert all(flag in cookie for flag in ("secure", "httponly", "samesite=lax", "path=/checkout"))


async def test_forms_without_the_right_csrf_token_are_refused(checkout: Checkout) -> None:
    trade = await checkout.trade()
    alice = await checkout.consumer()
    browser = checkout.browser()
    await browser.open(trade.trade_no)
    login = f"/checkout/{trade.trade_no}/login"
    credentials = {"phone": alice.phone, "password": PASSWORD}
    missing = await browser.http.post(login, data=credentials)
    wrong = await browser.http.post(login, data={**credentials, "csrf_token": "0" * 64})
    assert (missing.status_code, wrong.status_code) == (403, 403)
    await browser.sign_in(trade.trade_no, alice.phone)
    pay = f"/checkout/{trade.trade_no}/pay"
    unsigned = await browser.http.post(pay, data={"source": "wallet", "pin": PIN})
    assert unsigned.status_code == 403
    # A token from another browser (another site's visitor) is worthless here.
    other = checkout.browser()
    await other.open(trade.trade_no)
    forged = await browser.http.post(
        pay, data={"source": "wallet", "pin": PIN, "csrf_token": other.csrf_token}
    )
    assert forged.status_code == 403
    assert await checkout.trade_state(trade.trade_no) == "WAIT_BUYER_PAY"


# Paying.


async def test_pay_from_the_wallet_and_return_to_the_merchant(checkout: Checkout) -> None:
    trade = await checkout.trade(amount=1_234)
    alice = await checkout.consumer(balance=5_000)
    browser = checkout.browser()
    page = await browser.sign_in(trade.trade_no, alice.phone)
    assert "Wallet balance" in page.text and "¥50.00 available" in page.text
    assert labelled_inputs(page.text)
    assert "https://shop.example" in page.headers["content-security-policy"]
    paid = await browser.submit(trade.trade_no, "pay", source="wallet", pin=PIN)
    assert paid.status_code == 303
    location = paid.headers["location"]
    assert location.startswith("https://shop.example/orders/back?")
    assert query_of(location) == {
        "from": ["zhifu"],
        "out_trade_no": [trade.out_trade_no],
        "trade_no": [trade.trade_no],
        "total_amount": ["12.34"],
        "state": ["TRADE_SUCCESS"],
    }
    settled = await checkout.runtime.payments.trades.by_trade_no(trade.trade_no)
    assert (settled.state, settled.method, settled.buyer_user_id) == (
        "TRADE_SUCCESS",
        "checkout",
        alice.user_id,
    )
    assert await checkout.balance(alice) == 5_000 - 1_234
    again = await browser.open(trade.trade_no)
    assert "Payment complete" in again.text and "Return to Tea House" in again.text
    await checkout.books_balance()


async def test_without_a_return_url_a_success_page_is_shown(checkout: Checkout) -> None:
    trade = await checkout.trade(return_url=None)
    alice = await checkout.consumer()
    browser = checkout.browser()
    await browser.sign_in(trade.trade_no, alice.phone)
    paid = await browser.submit(trade.trade_no, "pay", source="wallet", pin=PIN)
    assert paid.status_code == 200 and "Payment complete" in paid.text
    assert trade.trade_no in paid.text


async def test_a_double_submission_pays_once(checkout: Checkout) -> None:
    trade = await checkout.trade(amount=3_000)
    alice = await checkout.consumer(balance=10_000)
    browser = checkout.browser()
    await browser.sign_in(trade.trade_no, alice.phone)
    clicks = [browser.submit(trade.trade_no, "pay", source="wallet", pin=PIN) for _ in range(3)]
    answers = await asyncio.gather(*clicks)
    assert [answer.status_code for answer in answers] == [303, 303, 303]
    assert len({answer.headers["location"] for answer in answers}) == 1
    late = await browser.submit(trade.trade_no, "pay", source="wallet", pin=PIN)
    assert late.status_code == 303
    assert await checkout.balance(alice) == 7_000
    await checkout.books_balance()


async def test_refusals_are_shown_at_their_field(checkout: Checkout) -> None:
    trade = await checkout.trade(amount=60_000)
    alice = await checkout.consumer(balance=10_000)
    browser = checkout.browser()
    await browser.sign_in(trade.trade_no, alice.phone)
    wrong = await browser.submit(trade.trade_no, "pay", source="wallet", pin="975310")
    assert wrong.status_code == 403
    assert "Incorrect payment PIN. 4 tries left" in wrong.text
    assert 'id="pin-error"' in wrong.text and 'aria-invalid="true"' in wrong.text
    short = await browser.submit(trade.trade_no, "pay", source="wallet", pin="12")
    assert short.status_code == 422 and "Your payment PIN is 6 digits." in short.text
    bogus = await browser.submit(trade.trade_no, "pay", source="bitcoin", pin=PIN)
    assert bogus.status_code == 422 and 'id="source-error"' in bogus.text
    poor = await browser.submit(trade.trade_no, "pay", source="wallet", pin=PIN)
    assert poor.status_code == 402 and "Your wallet balance is too low" in poor.text
    no_pin = await browser.submit(trade.trade_no, "pay", source="wallet", pin="")
    assert no_pin.status_code == 403 and "Enter your payment PIN" in no_pin.text
    assert await checkout.trade_state(trade.trade_no) == "WAIT_BUYER_PAY"


async def test_a_locked_pin_says_until_when(checkout: Checkout) -> None:
    trade = await checkout.trade()
    alice = await checkout.consumer()
    browser = checkout.browser()
    await browser.sign_in(trade.trade_no, alice.phone)
    for _ in range(5):
        answer = await browser.submit(trade.trade_no, "pay", source="wallet", pin="975310")
    assert answer.status_code == 423 and "locked until" in answer.text
    still = await browser.submit(trade.trade_no, "pay", source="wallet", pin=PIN)
    assert still.status_code == 423


async def test_a_closed_trade_cannot_be_paid(checkout: Checkout) -> None:
    trade = await checkout.trade()
    alice = await checkout.consumer()
    browser = checkout.browser()
    await browser.sign_in(trade.trade_no, alice.phone)
    await checkout.runtime.payments.lifecycle.close(trade.merchant_id, trade_no=trade.trade_no)
    refused = await browser.submit(trade.trade_no, "pay", source="wallet", pin=PIN)
    assert refused.status_code == 409 and "This payment is closed" in refused.text
    assert 'name="pin"' not in refused.text
    assert await checkout.balance(alice) == 100_000


async def test_another_consumer_cannot_see_or_pay_a_trade_with_a_buyer(
    checkout: Checkout,
) -> None:
    alice = await checkout.consumer()
    bob = await checkout.consumer()
    trade = await checkout.trade(buyer=alice.user_id)
    stranger = await checkout.browser().open(trade.trade_no)
    assert stranger.status_code == 200 and "Longjing" not in stranger.text  # sign-in only
    browser = checkout.browser()
    page = await browser.sign_in(trade.trade_no, bob.phone)
    assert page.status_code == 404 and "Longjing" not in page.text
    refused = await browser.http.post(
        f"/checkout/{trade.trade_no}/pay",
        data={"source": "wallet", "pin": PIN, "csrf_token": browser.own_token()},
    )
    assert refused.status_code == 404
    assert await checkout.trade_state(trade.trade_no) == "WAIT_BUYER_PAY"
    assert (await checkout.balance(alice), await checkout.balance(bob)) == (100_000, 100_000)
    own = checkout.browser()
    await own.sign_in(trade.trade_no, alice.phone)
    assert (await own.submit(trade.trade_no, "pay", source="wallet", pin=PIN)).status_code == 303


async def test_pay_by_card_and_see_a_decline(checkout: Checkout) -> None:
    trade = await checkout.trade(amount=8_800)
    alice = await checkout.consumer(balance=0)
    good = await checkout.link_card(alice, "1111")
    declining = await checkout.link_card(alice, "0002")
    browser = checkout.browser()
    page = await browser.sign_in(trade.trade_no, alice.phone)
    assert "ending in </span>1111" in page.text and "ending in </span>0002" in page.text
    declined = await browser.submit(trade.trade_no, "pay", source=f"card:{declining}", pin=PIN)
    assert declined.status_code == 402
    assert "Your bank declined the card (insufficient funds)" in declined.text
    assert f'value="card:{declining}" checked' in declined.text
    paid = await browser.submit(trade.trade_no, "pay", source=f"card:{good}", pin=PIN)
    assert paid.status_code == 303 and query_of(paid.headers["location"])["state"] == [
        "TRADE_SUCCESS"
    ]
    assert await checkout.balance(alice) == 0
    await checkout.books_balance()


async def test_someone_elses_card_is_refused(checkout: Checkout) -> None:
    trade = await checkout.trade()
    alice = await checkout.consumer(balance=0)
    bob = await checkout.consumer(balance=0)
    bobs_card = await checkout.link_card(bob)
    browser = checkout.browser()
    await browser.sign_in(trade.trade_no, alice.phone)
    refused = await browser.submit(trade.trade_no, "pay", source=f"card:{bobs_card}", pin=PIN)
    assert refused.status_code == 404 and "Choose one of your linked cards." in refused.text
    assert await checkout.runtime.funding.list(bob.user_id) == []


async def test_a_slow_bank_shows_a_waiting_page(checkout: Checkout) -> None:
    trade = await checkout.trade()
    alice = await checkout.consumer(balance=0)
    slow = await checkout.link_card(alice, "0004")
    browser = checkout.browser()
    await browser.sign_in(trade.trade_no, alice.phone)
    pending = await browser.submit(trade.trade_no, "pay", source=f"card:{slow}", pin=PIN)
    assert pending.status_code == 303
    assert pending.headers["location"] == f"/checkout/{trade.trade_no}"
    waiting = await browser.open(trade.trade_no)
    assert "Waiting for your bank" in waiting.text and 'http-equiv="refresh"' in waiting.text


async def test_sign_out(checkout: Checkout) -> None:
    trade = await checkout.trade()
    alice = await checkout.consumer()
    browser = checkout.browser()
    await browser.sign_in(trade.trade_no, alice.phone)
    signed_out = await browser.submit(trade.trade_no, "logout")
    assert signed_out.status_code == 303
    page = await browser.open(trade.trade_no)
    assert 'name="password"' in page.text and "Signed in as" not in page.text
