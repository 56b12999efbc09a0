"""The merchant portal over HTTP: sign-in and lockout, CSRF, field errors, the cashier,
refunds that a double submission makes once, keys, webhooks, settlement, and one
merchant never seeing another's trades or deliveries."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from html import unescape

import httpx
import pytest

from tests.events.support import Receiver
from tests.identity.support import PIN, fund, new_user
from tests.web.wallet_support import labelled_inputs
from zhifu import demo_data
from zhifu.api.app import create_app
from zhifu.demo_data import seed_and_describe
from zhifu.merchants import Merchant
from zhifu.payments import Trade
from zhifu.payments.acquiring import Order
from zhifu.runtime import Runtime

PASSWORD = "till-password-1"
CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]{64})"')
FORM_KEY = re.compile(r'name="form_key" value="([A-Za-z0-9_-]+)"')


@dataclass
class Browser:
    """One person's browser: its own cookies, and the last page it was shown."""

    http: httpx.AsyncClient
    page: httpx.Response | None = None

    async def open(self, path: str) -> httpx.Response:
        self.page = await self.http.get(path)
        return self.page

    def find(self, pattern: re.Pattern[str]) -> str:
        assert self.page is not None
        found = pattern.search(self.page.text)
        assert found, self.page.text
        return found.group(1)

    async def submit(self, path: str, **fields: str) -> httpx.Response:
        """Post a form of the last page, as a person pressing its button would."""
        response = await self.http.post(path, data={"csrf_token": self.find(CSRF), **fields})
        if response.status_code != 303:
            self.page = response
        return response

    async def follow(self, response: httpx.Response) -> httpx.Response:
        assert response.status_code == 303, response.text
        return await self.open(response.headers["location"])


@dataclass(frozen=True)
class Staff:
    merchant: Merchant
    login: str


@dataclass
class Portal:
    runtime: Runtime
    clients: list[httpx.AsyncClient] = field(default_factory=list)

    def browser(self, base_url: str = "http://zhifu.test", **cookies: str) -> Browser:
        transport = httpx.ASGITransport(app=create_app(self.runtime))
        http = httpx.AsyncClient(transport=transport, base_url=base_url, cookies=cookies)
        self.clients.append(http)
        return Browser(http)

    async def staff(self) -> Staff:
        merchant, _ = await self.runtime.payments.merchants.create(
            f"Noodle Bar {uuid.uuid4().hex[:6]}"
        )
        login = f"till{uuid.uuid4().hex[:10]}"
        await self.runtime.payments.portal.create(merchant.id, login, PASSWORD)
        return Staff(merchant, login)

    async def signed_in(self, staff: Staff | None = None) -> tuple[Staff, Browser]:
        staff = staff or await self.staff()
        browser = self.browser()
        await browser.open("/merchant/login")
        done = await browser.submit("/merchant/login", login=staff.login, password=PASSWORD)
        await browser.follow(done)
        return staff, browser

    async def buyer(self, balance: int = 100_000) -> int:
        user_id = await new_user(self.runtime.users, tier=3)
        wallet = await self.runtime.users.wallet(user_id)
        await fund(self.runtime.db, self.runtime.ledger, wallet, balance)
        return user_id

    async def paid_trade(self, merchant: Merchant, amount: int = 5_000) -> tuple[Trade, int]:
        made = await self.runtime.payments.methods.precreate(
            merchant, Order(out_trade_no=uuid.uuid4().hex, amount=amount, subject="Dan dan mian")
        )
        buyer = await self.buyer()
        await self.runtime.payments.paying.pay_trade(made.trade.trade_no, buyer, pin=PIN)
        return made.trade, buyer

    async def wallet(self, user_id: int) -> int:
        return (await self.runtime.transfers.balance(user_id)).available

    async def refunds(self, merchant: Merchant, trade_no: str) -> list[tuple[int, str]]:
        made = await self.runtime.payments.refunds.list_refunds(merchant.id, trade_no)
        return [(refund.amount, refund.reason) for refund in made]


@pytest.fixture
async def portal(runtime: Runtime) -> AsyncIterator[Portal]:
    made = Portal(runtime)
    yield made
    for http in made.clients:
        await http.aclose()


def text_of(response: httpx.Response) -> str:
    return unescape(re.sub(r"\s+", " ", response.text))


def grab(pattern: str, html: str) -> str:
    """The first group of `pattern` in the page, unescaped; the page must have it."""
    found = re.search(pattern, html, re.S)
    assert found, html
    return unescape(found.group(1))


# Signing in.


async def test_sign_in_opens_the_dashboard_with_a_secure_session(portal: Portal) -> None:
    staff = await portal.staff()
    browser = portal.browser("https://zhifu.test")
    page = await browser.open("/merchant/login")
    assert page.status_code == 200 and labelled_inputs(page.text)
    assert page.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    signed_in = await browser.submit("/merchant/login", login=staff.login, password=PASSWORD)
    assert signed_in.status_code == 303 and signed_in.headers["location"] == "/merchant/"
    cookie = signed_in.headers["set-cookie"].lower()
    assert "zhifu_merchant=" in cookie
    assert all(flag in cookie for flag in ("secure", "httponly", "samesite=lax", "path=/merchant"))
    dashboard = await browser.follow(signed_in)
    assert dashboard.status_code == 200 and staff.merchant.name in dashboard.text
    assert "Takings, last 30 days" in dashboard.text and 'class="chart"' in dashboard.text


async def test_pages_send_strangers_to_sign_in_and_back(portal: Portal) -> None:
    staff = await portal.staff()
    browser = portal.browser()
    page = await browser.http.get("/merchant/trades?state=TRADE_SUCCESS")
    assert page.status_code == 303
    back = "/merchant/trades?state=TRADE_SUCCESS"
    assert (
        page.headers["location"] == "/merchant/login?next=/merchant/trades%3Fstate%3DTRADE_SUCCESS"
    )
    form = await browser.open(page.headers["location"])
    assert f'name="next" value="{back}"' in form.text
    done = await browser.submit(
        "/merchant/login",
        login=staff.login.upper(),
        password=PASSWORD,
        next="/merchant/trades?state=TRADE_SUCCESS",
    )
    assert done.headers["location"] == "/merchant/trades?state=TRADE_SUCCESS"
    elsewhere = await browser.http.get("/merchant/login", params={"next": "https://evil.example/"})
    assert elsewhere.headers["location"] == "/merchant/"


async def test_unknown_login_and_wrong_password_get_the_same_refusal(portal: Portal) -> None:
    staff = await portal.staff()
    browser = portal.browser()
    await browser.open("/merchant/login")
    wrong = await browser.submit("/merchant/login", login=staff.login, password="not-it-at-all")
    unknown = await browser.submit("/merchant/login", login="nobody-here", password=PASSWORD)
    for refused in (wrong, unknown):
        assert refused.status_code == 401
        assert "Wrong login or password." in refused.text
        assert 'aria-invalid="true"' in refused.text
    empty = await browser.submit("/merchant/login", login=" ", password="")
    assert empty.status_code == 422
    assert "Enter your login name or phone number." in empty.text
    assert "Enter your password." in empty.text


async def test_five_wrong_passwords_lock_the_login(portal: Portal) -> None:
    staff = await portal.staff()
    browser = portal.browser()
    await browser.open("/merchant/login")
    statuses = [
        (
            await browser.submit("/merchant/login", login=staff.login, password=f"wrong-{n}xx")
        ).status_code
        for n in range(5)
    ]
    assert statuses == [401, 401, 401, 401, 423]
    right = await browser.submit("/merchant/login", login=staff.login, password=PASSWORD)
    assert right.status_code == 423
    assert "Too many wrong passwords: sign-in is locked until" in right.text


async def test_signing_out_ends_the_session(portal: Portal) -> None:
    _, browser = await portal.signed_in()
    token = browser.http.cookies["zhifu_merchant"]
    await browser.open("/merchant/")
    out = await browser.submit("/merchant/logout")
    assert out.status_code == 303 and out.headers["location"] == "/merchant/login"
    stale = portal.browser(zhifu_merchant=token)
    assert (await stale.http.get("/merchant/")).status_code == 303


async def test_pages_speak_chinese(portal: Portal) -> None:
    _, browser = await portal.signed_in()
    browser.http.cookies.set("zhifu_lang", "zh_CN")
    page = await browser.open("/merchant/")
    assert 'lang="zh-Hans-CN"' in page.text
    assert "今日" in page.text and "近 30 天收款" in page.text


# CSRF.


async def test_forms_without_the_right_csrf_token_are_refused(portal: Portal) -> None:
    staff = await portal.staff()
    browser = portal.browser()
    await browser.open("/merchant/login")
    credentials = {"login": staff.login, "password": PASSWORD}
    missing = await browser.http.post("/merchant/login", data=credentials)
    wrong = await browser.http.post("/merchant/login", data={**credentials, "csrf_token": "0" * 64})
    assert (missing.status_code, wrong.status_code) == (403, 403)
    before_sign_in = browser.find(CSRF)
    await browser.follow(await browser.submit("/merchant/login", **credentials))
    # A token minted before signing in is worthless after it (signing in changes it).
    stale = await browser.http.post(
        "/merchant/cashier",
        data={"csrf_token": before_sign_in, "form_key": "k" * 24, "amount": "1", "subject": "x"},
    )
    assert stale.status_code == 403 and "Your form expired" in stale.text
    trade, _ = await portal.paid_trade(staff.merchant)
    forged = await browser.http.post(
        f"/merchant/trades/{trade.trade_no}/refund/confirm",
        data={"form_key": "f" * 24, "amount": "10.00", "reason": ""},
    )
    assert forged.status_code == 403
    assert await portal.refunds(staff.merchant, trade.trade_no) == []


# The cashier.


async def test_cashier_shows_field_errors(portal: Portal) -> None:
    _, browser = await portal.signed_in()
    page = await browser.open("/merchant/cashier")
    assert labelled_inputs(page.text)
    refused = await browser.submit(
        "/merchant/cashier", form_key=browser.find(FORM_KEY), amount="12.345", subject=" "
    )
    assert refused.status_code == 422
    body = text_of(refused)
    assert "Enter an amount such as 12.50, with at most two decimals." in body
    assert "Say what the customer pays for." in body
    assert body.count('aria-invalid="true"') == 2
    assert 'href="#amount"' in refused.text and 'value="12.345"' in refused.text


async def test_cashier_makes_one_trade_and_shows_it_paid(portal: Portal) -> None:
    staff, browser = await portal.signed_in()
    await browser.open("/merchant/cashier")
    key = browser.find(FORM_KEY)
    sale = {"form_key": key, "amount": "25.80", "subject": "Two coffees"}
    first = await browser.submit("/merchant/cashier", **sale)
    again = await browser.submit("/merchant/cashier", **sale)
    assert first.status_code == again.status_code == 303
    assert first.headers["location"] == again.headers["location"]
    trade_no = first.headers["location"].rsplit("/", 1)[1]
    trade = await portal.runtime.payments.trades.get(staff.merchant.id, trade_no=trade_no)
    assert (trade.amount, trade.subject, trade.method) == (2_580, "Two coffees", "qr")
    sale = await browser.follow(first)
    assert "<svg" in sale.text and 'data-final="false"' in sale.text
    payload = grab(r'data-testid="qr-payload">([^<]+)<', sale.text)
    assert payload == await portal.runtime.payments.methods.trade_qr(staff.merchant, trade_no)
    assert "script-src 'self'; connect-src 'self'" in sale.headers["content-security-policy"]
    status_url = f"/merchant/cashier/{trade_no}/status"
    waiting = await browser.http.get(status_url)
    assert 'data-state="WAIT_BUYER_PAY"' in waiting.text and "<html" not in waiting.text
    buyer = await portal.buyer()
    scanned = await portal.runtime.payments.methods.scan(buyer, payload)
    assert scanned.trade is not None and scanned.trade.trade_no == trade_no
    await portal.runtime.payments.paying.pay_trade(trade_no, buyer, pin=PIN)
    paid = await browser.http.get(status_url)
    assert 'data-state="TRADE_SUCCESS"' in paid.text and 'data-final="true"' in paid.text
    assert "¥25.80" in paid.text
    dashboard = await browser.open("/merchant/")
    assert grab(r'data-testid="takings-today">([^<]+)<', dashboard.text) == "CN¥25.80"


async def test_an_unpaid_sale_can_be_called_off(portal: Portal) -> None:
    _, browser = await portal.signed_in()
    await browser.open("/merchant/cashier")
    made = await browser.submit(
        "/merchant/cashier", form_key=browser.find(FORM_KEY), amount="3", subject="Tea"
    )
    sale = await browser.follow(made)
    url = made.headers["location"]
    closed = await browser.follow(await browser.submit(f"{url}/close"))
    assert "This sale is closed: nothing was paid." in text_of(closed)
    assert sale.status_code == 200


# Trades, refunds.


async def test_trades_are_found_by_text_state_and_day(portal: Portal) -> None:
    staff, browser = await portal.signed_in()
    paid, _ = await portal.paid_trade(staff.merchant, 1_200)
    unpaid = await portal.runtime.payments.methods.precreate(
        staff.merchant, Order(out_trade_no="ORDER-77-x", amount=800, subject="Wonton soup")
    )
    everything = await browser.open("/merchant/trades")
    assert paid.trade_no in everything.text and unpaid.trade.trade_no in everything.text
    assert labelled_inputs(everything.text)
    found = await browser.open("/merchant/trades?q=order-77")
    assert unpaid.trade.trade_no in found.text and paid.trade_no not in found.text
    by_state = await browser.open("/merchant/trades?state=TRADE_SUCCESS")
    assert paid.trade_no in by_state.text and unpaid.trade.trade_no not in by_state.text
    by_number = await browser.open(f"/merchant/trades?q={paid.trade_no}")
    assert paid.trade_no in by_number.text and unpaid.trade.trade_no not in by_number.text
    none = await browser.open("/merchant/trades?since=2000-01-01&until=2000-01-02")
    assert "No trades match." in none.text
    wrong = await browser.open("/merchant/trades?since=31/01/2026&state=PAID")
    assert wrong.status_code == 422
    assert "Enter a date such as 2026-01-31." in wrong.text
    assert "Choose a state from the list." in wrong.text


async def test_refund_form_shows_field_errors(portal: Portal) -> None:
    staff, browser = await portal.signed_in()
    trade, _ = await portal.paid_trade(staff.merchant, 5_000)
    page = await browser.open(f"/merchant/trades/{trade.trade_no}")
    assert labelled_inputs(page.text) and "Up to CN¥50.00." in text_of(page)
    action = f"/merchant/trades/{trade.trade_no}/refund"
    too_much = await browser.submit(action, amount="50.01", reason="")
    assert too_much.status_code == 422
    assert "At most CN¥50.00 is left to refund." in text_of(too_much)
    garbage = await browser.submit(action, amount="ten", reason="")
    assert garbage.status_code == 422
    assert "Enter an amount such as 12.50, with at most two decimals." in text_of(garbage)


async def test_a_confirmed_refund_submitted_twice_refunds_once(portal: Portal) -> None:
    staff, browser = await portal.signed_in()
    trade, buyer = await portal.paid_trade(staff.merchant, 5_000)
    await browser.open(f"/merchant/trades/{trade.trade_no}")
    confirm = await browser.submit(
        f"/merchant/trades/{trade.trade_no}/refund", amount="12.50", reason="cold noodles"
    )
    assert confirm.status_code == 200
    assert "Refund CN¥12.50 to the buyer?" in text_of(confirm)
    fields = {
        "csrf_token": browser.find(CSRF),
        "form_key": browser.find(FORM_KEY),
        "amount": "12.50",
        "reason": "cold noodles",
    }
    action = f"/merchant/trades/{trade.trade_no}/refund/confirm"
    # A double click: the same confirmation twice at once, then once more later.
    first, second = await asyncio.gather(
        browser.http.post(action, data=fields), browser.http.post(action, data=fields)
    )
    third = await browser.http.post(action, data=fields)
    locations = {response.headers.get("location") for response in (first, second, third)}
    assert [first.status_code, second.status_code, third.status_code] == [303, 303, 303]
    assert len(locations) == 1
    assert await portal.refunds(staff.merchant, trade.trade_no) == [(1_250, "cold noodles")]
    assert await portal.wallet(buyer) == 100_000 - 5_000 + 1_250
    shown = await browser.follow(first)
    body = text_of(shown)
    assert "Refunded CN¥12.50 to the buyer." in body and "cold noodles" in body
    assert "Up to CN¥37.50." in body
    report = await portal.runtime.ledger.verify()
    assert report.ok, report.breaches


async def test_refunding_everything_closes_the_trade(portal: Portal) -> None:
    staff, browser = await portal.signed_in()
    trade, buyer = await portal.paid_trade(staff.merchant, 2_000)
    await browser.open(f"/merchant/trades/{trade.trade_no}")
    await browser.submit(f"/merchant/trades/{trade.trade_no}/refund", amount="20.00", reason="")
    done = await browser.submit(
        f"/merchant/trades/{trade.trade_no}/refund/confirm",
        form_key=browser.find(FORM_KEY),
        amount="20.00",
        reason="",
    )
    page = await browser.follow(done)
    assert 'data-testid="trade-state">Closed<' in page.text
    assert "Closed: refunded in full" in page.text and '/refund"' not in page.text
    assert await portal.wallet(buyer) == 100_000


# API keys, webhooks, settlement.


async def test_a_new_api_key_is_shown_once_and_revoking_stops_it(
    portal: Portal, client: httpx.AsyncClient
) -> None:
    _, browser = await portal.signed_in()
    await browser.open("/merchant/keys")
    form_key = browser.find(FORM_KEY)
    created = await browser.submit("/merchant/keys", form_key=form_key)
    assert created.status_code == 201
    secret = grab(r'data-testid="secret-key">([^<]+)<', created.text)
    again = await browser.submit("/merchant/keys", form_key=form_key)  # a double click
    assert 'data-testid="secret-shown"' in again.text and secret not in again.text
    assert f"sk_{secret.split('_')[1]}" in again.text
    headers = {"Authorization": f"Bearer {secret}"}
    assert (await client.get("/v1/merchant", headers=headers)).status_code == 200
    listed = await browser.open("/merchant/keys")
    assert secret not in listed.text and secret.split("_")[1] in listed.text
    key_id = grab(
        rf'sk_{secret.split("_")[1]}_.*?href="/merchant/keys/([0-9]+)/revoke"', listed.text
    )
    confirm = await browser.open(f"/merchant/keys/{key_id}/revoke")
    assert "cannot be undone" in confirm.text
    revoked = await browser.submit(f"/merchant/keys/{key_id}/revoke")
    assert revoked.headers["location"] == f"/merchant/keys?revoked={key_id}"
    assert (await client.get("/v1/merchant", headers=headers)).status_code == 401


async def test_webhook_endpoint_deliveries_and_resend(portal: Portal) -> None:
    staff, browser = await portal.signed_in()
    receiver = Receiver().start()
    try:
        await browser.open("/merchant/webhooks")
        bad = await browser.submit("/merchant/webhooks", url="ftp://nowhere")
        assert bad.status_code == 422 and "starting https://" in bad.text
        saved = await browser.submit(
            "/merchant/webhooks", url=receiver.url, event_types="trade.paid"
        )
        assert saved.status_code == 200 and "whsec_" in saved.text
        again = await browser.open("/merchant/webhooks")
        assert "whsec_" not in again.text and receiver.url in again.text
        assert labelled_inputs(again.text)
        receiver.script([500])
        await portal.paid_trade(staff.merchant)
        await portal.runtime.webhooks.deliver_due()
        page = await browser.open("/merchant/webhooks")
        assert "trade.paid" in page.text and "HTTP 500" in page.text
        delivery_id = grab(r"/merchant/webhooks/deliveries/([0-9]+)/resend", page.text)
        resent = await browser.submit(f"/merchant/webhooks/deliveries/{delivery_id}/resend")
        assert resent.status_code == 303 and "resent=" in resent.headers["location"]
        await portal.runtime.webhooks.deliver_due()
        first, second = receiver.received
        assert first.event_id == second.event_id
        shown = await browser.follow(resent)
        assert "The event was queued to be sent again." in shown.text
        assert "Delivered" in shown.text
    finally:
        receiver.stop()


async def test_settlement_account_keeps_only_the_last_four(portal: Portal) -> None:
    staff, browser = await portal.signed_in()
    page = await browser.open("/merchant/settlement")
    assert labelled_inputs(page.text) and "None yet" in page.text
    bad = await browser.submit("/merchant/settlement", bank="ICBC", number="12345-67")
    assert bad.status_code == 422
    assert "Check the number: it is not a valid card or account number." in bad.text
    empty = await browser.submit("/merchant/settlement", bank="", number="")
    assert empty.status_code == 422
    assert "Enter the name of the bank." in empty.text and "Enter the account number." in empty.text
    saved = await browser.submit("/merchant/settlement", bank="ICBC", number="6222020200112233446")
    shown = await browser.follow(saved)
    assert "ICBC •••• 3446" in shown.text and "6222020200112233446" not in shown.text
    merchant = await portal.runtime.payments.merchants.get(staff.merchant.id)
    assert (merchant.settlement_bank, merchant.settlement_last4) == ("ICBC", "3446")


async def test_stores_and_terminals(portal: Portal) -> None:
    staff, browser = await portal.signed_in()
    await browser.open("/merchant/stores")
    empty = await browser.submit("/merchant/stores", name="  ", form_key=browser.find(FORM_KEY))
    assert empty.status_code == 422 and "Enter a name." in empty.text
    form_key = browser.find(FORM_KEY)
    for _ in range(2):  # a double click makes one store
        made = await browser.submit("/merchant/stores", name="Wudaokou", form_key=form_key)
    await browser.follow(made)
    (store,) = await portal.runtime.payments.merchants.stores(staff.merchant.id)
    terminals = f"/merchant/stores/{store['id']}/terminals"
    form_key = browser.find(FORM_KEY)
    for _ in range(2):
        added = await browser.submit(terminals, label="Till 2", form_key=form_key)
    page = await browser.follow(added)
    assert "Wudaokou" in page.text and "Till 2" in page.text and "<svg" in page.text
    assert page.text.count("Till 2") == 1
    assert labelled_inputs(page.text)
    refused = await browser.submit("/merchant/stores", name="Xidan")
    assert refused.status_code != 303  # a form without its key is an expired form


# Isolation.


async def test_a_merchant_never_sees_another_merchants_trades_or_deliveries(
    portal: Portal,
) -> None:
    victim, victims_browser = await portal.signed_in()
    receiver = Receiver().start()
    try:
        await victims_browser.open("/merchant/webhooks")
        await victims_browser.submit("/merchant/webhooks", url=receiver.url)
        trade, _ = await portal.paid_trade(victim.merchant, 3_000)
        await portal.runtime.webhooks.deliver_due()
    finally:
        receiver.stop()
    page = await victims_browser.open("/merchant/webhooks")
    delivery_id = grab(r"/merchant/webhooks/deliveries/([0-9]+)/resend", page.text)

    _, intruder = await portal.signed_in()
    assert (await intruder.open(f"/merchant/trades/{trade.trade_no}")).status_code == 404
    assert (await intruder.open(f"/merchant/cashier/{trade.trade_no}")).status_code == 404
    status = await intruder.http.get(f"/merchant/cashier/{trade.trade_no}/status")
    assert status.status_code == 404
    listed = await intruder.open(f"/merchant/trades?q={trade.trade_no}")
    assert f'href="/merchant/trades/{trade.trade_no}"' not in listed.text
    assert "No trades match." in listed.text
    theirs = await intruder.open("/merchant/webhooks")
    assert f"/deliveries/{delivery_id}/resend" not in theirs.text
    resend = await intruder.submit(f"/merchant/webhooks/deliveries/{delivery_id}/resend")
    assert resend.status_code == 404
    await intruder.open("/merchant/")
    refund = await intruder.submit(
        f"/merchant/trades/{trade.trade_no}/refund/confirm",
        form_key="x" * 24,
        amount="30.00",
        reason="",
    )
    assert refund.status_code == 404
    assert await portal.refunds(victim.merchant, trade.trade_no) == []


async def test_the_demo_shop_has_a_portal_login(portal: Portal) -> None:
    await seed_and_describe(portal.runtime)
    told = await seed_and_describe(portal.runtime)  # a restart finds it made
    assert f"login {demo_data.MERCHANT_LOGIN}, password {demo_data.PASSWORD}" in told
    browser = portal.browser()
    await browser.open("/merchant/login")
    done = await browser.submit(
        "/merchant/login", login=demo_data.MERCHANT_LOGIN, password=demo_data.PASSWORD
    )
    assert demo_data.MERCHANT in (await browser.follow(done)).text
