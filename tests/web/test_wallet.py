"""The consumer wallet's pages over HTTP: field errors, CSRF, confirmations, idempotent
double submissions, what one consumer may see of another's."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator

import pytest

from tests.funding.support import card_number
from tests.web.wallet_support import PASSWORD, PIN, Wallets, labelled_inputs
from zhifu.payments.acquiring import render_png
from zhifu.runtime import Runtime


@pytest.fixture
async def wallets(runtime: Runtime) -> AsyncIterator[Wallets]:
    people = Wallets(runtime)
    yield people
    await people.close()


def location(answer: object) -> str:
    headers = answer.headers  # type: ignore[attr-defined]
    return str(headers["location"])


# Signing up and in.


async def test_sign_up_shows_field_errors_then_signs_in(wallets: Wallets) -> None:
    browser = wallets.browser()
    page = await browser.get("/wallet/signup")
    assert page.status_code == 200 and labelled_inputs(page.text)
    refused = await browser.submit(
        "/wallet/signup", phone="", password="short", pin="12a", pin_again=""
    )
    assert refused.status_code == 422
    for message in (
        "Enter your phone number.",
        "A password has 8 to 128 characters.",
        "Your payment PIN is 6 digits.",
    ):
        assert message in refused.text
    assert 'aria-invalid="true"' in refused.text and 'id="phone-error"' in refused.text
    easy = await browser.submit(
        "/wallet/signup", phone="13912345678", password="long enough", pin="123456",
        pin_again="123456",
    )  # fmt: skip
    assert easy.status_code == 422 and "not a run like 123456" in easy.text
    phone = await browser.sign_up()
    cookie = next(
        value for name, value in browser.page.headers.multi_items()  # type: ignore[union-attr]
        if name == "set-cookie" and value.startswith("zhifu_wallet=")
    )  # fmt: skip
    assert all(flag in cookie.lower() for flag in ("httponly", "samesite=lax", "path=/wallet"))
    home = await browser.follow(browser.page)  # type: ignore[arg-type]
    assert home.status_code == 200 and "CN¥0.00" in home.text
    assert phone[-4:] in home.text  # signed in as 139****1234
    user = await wallets.runtime.users.by_phone(phone)
    assert user.has_pin


async def test_pages_ask_to_sign_in_first_and_come_back(wallets: Wallets) -> None:
    browser = wallets.browser()
    answer = await browser.get("/wallet/bills", kind="transfer")
    assert answer.status_code == 303
    assert location(answer) == "/wallet/login?next=/wallet/bills%3Fkind%3Dtransfer"
    person = await wallets.person()
    await browser.get(location(answer))
    signed_in = await browser.submit(
        "/wallet/login", phone=person.phone, password="correct horse battery"
    )
    assert location(signed_in) == "/wallet/bills?kind=transfer"
    stranger = wallets.browser()
    await stranger.get("/wallet/login")
    wrong = await stranger.submit("/wallet/login", phone=person.phone, password="nope nope")
    assert wrong.status_code == 401 and "Wrong phone number or password." in wrong.text


async def test_repeated_wrong_passwords_lock_the_sign_in(wallets: Wallets) -> None:
    person = await wallets.person()
    stranger = wallets.browser()
    await stranger.get("/wallet/login")
    for _ in range(4):
        await stranger.submit("/wallet/login", phone=person.phone, password="nope nope")
    locked = await stranger.submit("/wallet/login", phone=person.phone, password="nope nope")
    assert locked.status_code == 423 and "sign-in is locked until" in locked.text
    right = await stranger.submit("/wallet/login", phone=person.phone, password=PASSWORD)
    assert right.status_code == 423


async def test_a_form_needs_the_csrf_token_of_this_browser_and_session(wallets: Wallets) -> None:
    alice = await wallets.person(balance=10_000)
    bob = await wallets.person()
    browser = alice.browser
    await browser.get("/wallet/transfer")
    form = {"phone": bob.phone, "amount": "10", "memo": ""}
    missing = await browser.http.post("/wallet/transfer", data=form)
    assert missing.status_code == 403 and "Your form expired" in missing.text
    stranger = wallets.browser()
    await stranger.get("/wallet/login")
    forged = await browser.http.post(
        "/wallet/transfer", data={**form, "csrf_token": stranger.hidden["csrf_token"]}
    )
    assert forged.status_code == 403
    confirm = await browser.submit("/wallet/transfer", **form)
    assert confirm.status_code == 200
    fields = {**browser.hidden, "pin": PIN, "csrf_token": "0" * 64}
    refused = await browser.http.post("/wallet/transfer/confirm", data=fields)
    assert refused.status_code == 403
    assert await wallets.balance(alice) == 10_000 and await wallets.balance(bob) == 0


# Cards, top-ups and withdrawals.


async def test_link_a_card_top_up_and_withdraw(wallets: Wallets) -> None:
    alice = await wallets.person()
    browser = alice.browser
    await browser.get("/wallet/cards")
    bad = await browser.submit("/wallet/cards", number="4111 1111 1111 1112", kind="card")
    assert bad.status_code == 422 and 'id="number-error"' in bad.text
    linked = await browser.submit("/wallet/cards", number=card_number("1111"), kind="card")
    cards = await browser.follow(linked)
    assert "•••• 1111" in cards.text and labelled_inputs(cards.text)
    card = (await wallets.runtime.cards.list(alice.user_id))[0]

    await browser.get("/wallet/topup")
    wrong = await browser.submit("/wallet/topup", card_id=str(card.id), amount="12.345")
    assert wrong.status_code == 422 and "at most two decimals" in wrong.text
    review = await browser.submit("/wallet/topup", card_id=str(card.id), amount="1,200.50")
    assert review.status_code == 200 and "CN¥1,200.50" in review.text
    assert browser.hidden["amount"] == "1200.50" and browser.hidden["form_key"]
    assert await wallets.balance(alice) == 0  # reviewing moves nothing
    done = await browser.follow(await browser.submit("/wallet/topup/confirm"))
    assert "Topped up" in done.text and await wallets.balance(alice) == 120_050

    await browser.get("/wallet/withdraw")
    await browser.submit("/wallet/withdraw", card_id=str(card.id), amount="50")
    wrong_pin = await browser.submit("/wallet/withdraw/confirm", pin="975310")
    assert wrong_pin.status_code == 403 and "Incorrect payment PIN. 4 tries left" in wrong_pin.text
    out = await browser.follow(await browser.submit("/wallet/withdraw/confirm", pin=PIN))
    assert "Withdrawn" in out.text and await wallets.balance(alice) == 115_050

    unlinked = await browser.submit(f"/wallet/cards/{card.id}/unlink")
    assert unlinked.status_code == 303
    assert await wallets.runtime.cards.list(alice.user_id) == []
    await wallets.books_balance()


async def test_a_card_the_bank_declines_tops_up_nothing(wallets: Wallets) -> None:
    alice = await wallets.person()
    card = await wallets.runtime.cards.link(alice.user_id, card_number("0002"))
    browser = alice.browser
    await browser.get("/wallet/topup")
    await browser.submit("/wallet/topup", card_id=str(card.id), amount="100")
    refused = await browser.follow(await browser.submit("/wallet/topup/confirm"))
    assert "Your bank refused" in refused.text and "insufficient funds" in refused.text
    assert await wallets.balance(alice) == 0
    stranger_card = await browser.submit("/wallet/topup", card_id="999999999", amount="1")
    assert stranger_card.status_code == 422 and 'id="card_id-error"' in stranger_card.text


# Transfers.


async def test_transfer_confirm_twice_at_once_sends_once(wallets: Wallets) -> None:
    alice = await wallets.person(balance=50_000)
    bob = await wallets.person()
    browser = alice.browser
    await browser.get("/wallet/transfer")
    review = await browser.submit("/wallet/transfer", phone=bob.phone, amount="88.80", memo="Tea")
    assert review.status_code == 200 and "CN¥88.80" in review.text
    assert bob.phone[-4:] in review.text and labelled_inputs(review.text)
    fields = {**browser.hidden, "pin": PIN}
    clicks = [browser.http.post("/wallet/transfer/confirm", data=fields) for _ in range(3)]
    answers = await asyncio.gather(*clicks)
    assert [answer.status_code for answer in answers] == [303, 303, 303]
    assert len({location(answer) for answer in answers}) == 1
    late = await browser.http.post("/wallet/transfer/confirm", data=fields)
    assert location(late) == location(answers[0])
    assert await wallets.balance(alice) == 50_000 - 8_880
    assert await wallets.balance(bob) == 8_880
    receipt = await browser.follow(answers[0])
    assert "Money sent" in receipt.text and "Tea" in receipt.text
    await wallets.books_balance()


async def test_transfer_refusals_are_shown_at_their_field(wallets: Wallets) -> None:
    alice = await wallets.person(balance=1_000)
    bob = await wallets.person()
    browser = alice.browser
    await browser.get("/wallet/transfer")
    nobody = await browser.submit("/wallet/transfer", phone="13000000000", amount="1")
    assert nobody.status_code == 422 and "Nobody with this phone number" in nobody.text
    myself = await browser.submit("/wallet/transfer", phone=alice.phone, amount="1")
    assert myself.status_code == 422 and "cannot send money to yourself" in myself.text
    await browser.submit("/wallet/transfer", phone=bob.phone, amount="20")
    first_key = browser.hidden["form_key"]
    poor = await browser.submit("/wallet/transfer/confirm", pin=PIN)
    assert poor.status_code == 402 and "Your balance is too low" in poor.text
    assert browser.hidden["form_key"] != first_key  # a refusal renders a new key
    assert await wallets.balance(bob) == 0


# Scanning and paying shops.


async def test_scan_a_dynamic_code_and_pay_it_once(wallets: Wallets) -> None:
    alice = await wallets.person(balance=20_000)
    merchant = await wallets.merchant()
    trade, payload = await wallets.qr_trade(merchant, 1_250)
    browser = alice.browser
    await browser.get("/wallet/scan")
    scanned = await browser.submit("/wallet/scan", payload=payload)
    assert location(scanned) == f"/wallet/trades/{trade.trade_no}"
    page = await browser.follow(scanned)
    assert merchant.name in page.text and "CN¥12.50" in page.text and "Pay CN¥12.50" in page.text
    assert labelled_inputs(page.text)
    pay = f"/wallet/trades/{trade.trade_no}/pay"
    fields = {**browser.hidden, "source": "wallet", "pin": PIN}
    answers = await asyncio.gather(*(browser.http.post(pay, data=fields) for _ in range(2)))
    assert [answer.status_code for answer in answers] == [303, 303]
    paid = await browser.follow(answers[0])
    assert "Paid" in paid.text
    assert await wallets.balance(alice) == 20_000 - 1_250
    settled = await wallets.runtime.payments.trades.by_trade_no(trade.trade_no)
    assert (settled.state, settled.buyer_user_id) == ("TRADE_SUCCESS", alice.user_id)


async def test_scan_a_picture_of_the_code(wallets: Wallets) -> None:
    alice = await wallets.person(balance=20_000)
    trade, payload = await wallets.qr_trade(await wallets.merchant(), 300)
    browser = alice.browser
    await browser.get("/wallet/scan")
    picture = {"picture": ("code.png", render_png(payload, scale=6), "image/png")}
    answer = await browser.http.post("/wallet/scan", data=browser.hidden, files=picture)
    assert location(answer) == f"/wallet/trades/{trade.trade_no}"
    junk = {"picture": ("code.png", b"not a picture", "image/png")}
    refused = await browser.http.post("/wallet/scan", data=browser.hidden, files=junk)
    assert refused.status_code == 422 and 'id="picture-error"' in refused.text


async def test_scan_refusals_and_checkout_links(wallets: Wallets) -> None:
    alice = await wallets.person()
    browser = alice.browser
    await browser.get("/wallet/scan")
    empty = await browser.submit("/wallet/scan", payload="  ")
    assert empty.status_code == 422 and "Paste the code" in empty.text
    damaged = await browser.submit("/wallet/scan", payload="000201010212" + "x" * 20)
    assert damaged.status_code == 422 and 'id="payload-error"' in damaged.text
    link = await browser.submit(
        "/wallet/scan", payload="https://pay.example/checkout/202601010000000000000042"
    )
    assert location(link) == "/checkout/202601010000000000000042"


async def test_pay_a_store_code_with_an_amount_once(wallets: Wallets) -> None:
    alice = await wallets.person(balance=20_000)
    merchant = await wallets.merchant()
    store = await wallets.runtime.payments.merchants.add_store(merchant.id, "Jing'an kiosk")
    payload = await wallets.runtime.payments.methods.store_qr(merchant, store["id"])
    browser = alice.browser
    await browser.get("/wallet/scan")
    amount_page = await browser.submit("/wallet/scan", payload=payload)
    assert amount_page.status_code == 200 and "Jing&#39;an kiosk" in amount_page.text
    bad = await browser.submit("/wallet/scan/amount", amount="-3")
    assert bad.status_code == 422 and 'id="amount-error"' in bad.text
    review = await browser.submit("/wallet/scan/amount", amount="8.8")
    assert review.status_code == 200 and "CN¥8.80" in review.text
    fields = {**browser.hidden, "pin": PIN}
    answers = await asyncio.gather(
        *(browser.http.post("/wallet/scan/pay", data=fields) for _ in range(3))
    )
    assert len({location(answer) for answer in answers}) == 1
    assert await wallets.balance(alice) == 20_000 - 880


async def test_escrow_confirm_receipt_and_refund_request(wallets: Wallets) -> None:
    alice = await wallets.person(balance=50_000)
    merchant = await wallets.merchant()
    first = await wallets.escrow_trade(merchant, alice, 10_000)
    second = await wallets.escrow_trade(merchant, alice, 5_000)
    browser = alice.browser
    listing = await browser.get("/wallet/escrow")
    assert first.trade_no in listing.text and second.trade_no in listing.text
    await browser.get(f"/wallet/trades/{first.trade_no}/confirm-receipt")
    answers = await asyncio.gather(
        *(browser.http.post(f"/wallet/trades/{first.trade_no}/confirm-receipt",
                            data=browser.hidden) for _ in range(2))
    )  # fmt: skip
    assert [answer.status_code for answer in answers] == [303, 303]
    confirmed = await wallets.runtime.payments.trades.by_trade_no(first.trade_no)
    assert confirmed.escrow_state == "CONFIRMED"
    await browser.get(f"/wallet/trades/{second.trade_no}/refund-request")
    asked = await browser.submit(f"/wallet/trades/{second.trade_no}/refund-request")
    assert asked.status_code == 303
    page = await browser.follow(asked)
    assert "Refund asked: waiting for the seller" in page.text
    again = await browser.get(f"/wallet/trades/{first.trade_no}/confirm-receipt")
    assert again.status_code == 409
    await wallets.books_balance()


# Payment code, bills, statement.


async def test_payment_code_page_shows_a_code_that_pays(wallets: Wallets) -> None:
    alice = await wallets.person()
    page = await alice.browser.get("/wallet/paycode")
    assert page.status_code == 200
    code = page.text.split('data-code="', 1)[1][:18]
    assert code.isdigit() and len(code) == 18
    assert '<meta http-equiv="refresh"' in page.text
    assert page.text.count("<svg") == 2 and 'role="img"' in page.text
    device, _ = await wallets.runtime.payments.devices.verify_code(code)
    assert device.user_id == alice.user_id


async def test_bills_filter_detail_and_csv(wallets: Wallets) -> None:
    alice = await wallets.person(balance=30_000)
    bob = await wallets.person()
    await wallets.runtime.transfers.transfer(
        alice.user_id, to_phone=bob.phone, amount=1_500, memo="Lunch", pin=PIN,
        idempotency_key="lunch",
    )  # fmt: skip
    browser = alice.browser
    everything = await browser.get("/wallet/bills")
    assert "Lunch" in everything.text or bob.phone[-4:] in everything.text
    assert "CN¥300.00" in everything.text  # the funding, money in
    transfers = await browser.get("/wallet/bills", kind="transfer", direction="out")
    assert "-CN¥15.00" in transfers.text and "CN¥300.00" not in transfers.text
    money_in = await browser.get("/wallet/bills", direction="in", **{"from": "2999-01-01"})
    assert "No movements match." in money_in.text
    entry_id = (await wallets.runtime.transfers.statement(alice.user_id, "CNY", 1))[0].entry_id
    detail = await browser.get(f"/wallet/bills/{entry_id}")
    assert detail.status_code == 200 and "Lunch" in detail.text
    assert f"/wallet/transfers/{entry_id}" in detail.text
    download = await browser.get("/wallet/statement.csv")
    assert download.headers["content-type"].startswith("text/csv")
    assert "attachment" in download.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(download.text)))
    assert [row["amount"] for row in rows] == ["-15.00", "300.00"]


async def test_a_consumer_sees_none_of_anothers_things(wallets: Wallets) -> None:
    alice = await wallets.person(balance=30_000)
    bob = await wallets.person()
    receipt = await wallets.runtime.transfers.transfer(
        alice.user_id, to_phone=bob.phone, amount=100, pin=PIN, idempotency_key="x"
    )
    card = await wallets.runtime.cards.link(alice.user_id, card_number("1111"))
    order = await wallets.runtime.funding.topup(alice.user_id, card.id, 500, "CNY", "t1")
    merchant = await wallets.merchant()
    trade, _ = await wallets.qr_trade(merchant, 700)
    paid = (
        await wallets.runtime.payments.paying.pay_trade(trade.trade_no, alice.user_id, pin=PIN)
    ).trade
    mallory = await wallets.person()
    for path in (
        f"/wallet/bills/{receipt.entry_id}",
        f"/wallet/transfers/{receipt.entry_id}",
        f"/wallet/funding/{order.id}",
        f"/wallet/trades/{trade.trade_no}",
        f"/wallet/bills/{paid.entry_id}",
    ):
        answer = await mallory.browser.get(path)
        assert answer.status_code == 404, path
        assert "Not found" in answer.text and merchant.name not in answer.text
    await mallory.browser.get("/wallet/cards")
    taken = await mallory.browser.submit(f"/wallet/cards/{card.id}/unlink")
    assert taken.status_code == 404
    assert len(await wallets.runtime.cards.list(alice.user_id)) == 1
    # Bob, the other party of the transfer, does see it.
    assert (await bob.browser.get(f"/wallet/bills/{receipt.entry_id}")).status_code == 200


# The pages themselves.


async def test_pages_are_labelled_and_locked_down(wallets: Wallets) -> None:
    alice = await wallets.person(balance=1_000)
    for path in ("/wallet/", "/wallet/cards", "/wallet/topup", "/wallet/transfer",
                 "/wallet/scan", "/wallet/paycode", "/wallet/bills", "/wallet/escrow"):  # fmt: skip
        page = await alice.browser.get(path)
        assert page.status_code == 200, path
        assert labelled_inputs(page.text), path
        assert page.headers["cache-control"] == "no-store"
        policy = page.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in policy and "script-src 'self'" in policy
        assert "http://" not in page.text.replace("http://www.w3.org", "")
    script = await alice.browser.get("/static/zhifu.js")
    assert script.status_code == 200


async def test_landing_page_and_language_switch(wallets: Wallets) -> None:
    browser = wallets.browser()
    landing = await browser.get("/")
    assert landing.status_code == 200
    assert 'href="/wallet/"' in landing.text and 'href="/merchant/"' in landing.text
    assert "set-cookie" not in landing.headers
    switched = await browser.get("/language/zh_CN", next="/wallet/login")
    assert switched.status_code == 303 and location(switched) == "/wallet/login"
    chinese = await browser.get("/wallet/login")
    assert '<html lang="zh-Hans-CN">' in chinese.text and "登录" in chinese.text
    outward = await browser.get("/language/en", next="//evil.example/")
    assert location(outward) == "/"
    stranger = wallets.browser()
    asked = await stranger.http.get("/wallet/login", headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    assert "登录" in asked.text


async def test_chinese_pages_translate_forms_and_format_money(wallets: Wallets) -> None:
    alice = await wallets.person(balance=123_456)
    browser = alice.browser
    await browser.get("/language/zh_CN", next="/wallet/")
    home = await browser.get("/wallet/")
    assert "¥1,234.56" in home.text and "CN¥" not in home.text
    assert "充值" in home.text and "Top-up" not in home.text  # the movement's kind
    await browser.get("/wallet/transfer")
    refused = await browser.submit("/wallet/transfer", phone="", amount="1.234")
    assert refused.status_code == 422
    assert "出现问题" in refused.text and "请输入收款人的手机号码。" in refused.text
    assert "错误：" in refused.text  # the hidden "Error:" before each message
