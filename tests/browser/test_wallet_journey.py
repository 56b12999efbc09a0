"""The consumer's journey in a real browser: sign up, link a card, top up, scan a shop's
QR code and pay it, find the payment in the bills, see the shop's partial refund; a
transfer between two people; a double click that pays once."""

from __future__ import annotations

import io
import re

import zxingcpp
from PIL import Image
from playwright.async_api import Page, expect

from tests.browser.conftest import (
    DESKTOP,
    PIN,
    Consumer,
    Merchant,
    Site,
    balance,
    link_card,
    snap,
    top_up,
)


async def scan_picture(consumer: Consumer, picture: bytes) -> Page:
    """Upload a photo of the shop's code on the Scan page: the server reads it."""
    page = await consumer.open("/wallet/scan")
    await snap(page, "wallet-scan")
    await page.get_by_label("Picture of the QR code").set_input_files(
        files=[{"name": "shop-code.png", "mimeType": "image/png", "buffer": picture}]
    )
    await page.get_by_role("button", name="Read the code").click()
    await page.wait_for_url(re.compile(r".*/wallet/trades/[0-9]+$"))
    return page


async def scan_text(consumer: Consumer, payload: str) -> Page:
    page = await consumer.open("/wallet/scan")
    await page.get_by_label("Or the code's text").fill(payload)
    await page.get_by_role("button", name="Read the code").click()
    await page.wait_for_url(re.compile(r".*/wallet/trades/[0-9]+$"))
    return page


async def test_sign_up_top_up_scan_pay_and_see_the_refund(site: Site) -> None:
    shop: Merchant = await site.merchant("West Lake Tea House")

    landing = await site.new_page(DESKTOP)
    await landing.goto(f"{site.url}/")
    await expect(landing.get_by_role("link", name="Wallet")).to_be_visible()
    await snap(landing, "landing")

    # Sign up on a phone.
    signup = await site.new_page()
    await signup.goto(f"{site.url}/wallet/signup")
    await snap(signup, "wallet-signup")
    alice = await site.consumer(signup)
    await expect(alice.page.get_by_test_id("balance-CNY")).to_have_text("CN¥0.00")

    # Link a card and top up from it.
    await link_card(alice, "1111")
    await snap(alice.page, "wallet-cards")
    page = await alice.open("/wallet/topup")
    await page.get_by_label("Amount (CNY)").fill("200")
    await page.get_by_role("button", name="Continue").click()
    await expect(page.get_by_role("heading", name="Top up your wallet")).to_be_visible()
    await snap(page, "wallet-topup-confirm")
    await page.get_by_role("button", name="Top up CN¥200.00").click()
    await expect(page.get_by_role("heading", name="Topped up")).to_be_visible()
    assert await balance(alice) == "CN¥200.00"

    # The shop's server creates a trade through the REST API and shows its QR code.
    made = await shop.precreate(1_234)
    trade_no = made["trade"]["trade_no"]
    page = await scan_picture(alice, await shop.qr_png(trade_no))
    await expect(page.get_by_role("heading", name="West Lake Tea House")).to_be_visible()
    await expect(page.get_by_text("CN¥12.34").first).to_be_visible()
    await page.get_by_label("Payment PIN").fill(PIN)
    await snap(page, "wallet-pay")
    # (The merchant portal's live view of this trade joins the journey here.)
    await page.get_by_role("button", name="Pay CN¥12.34").click()
    await expect(page.get_by_role("heading", name="Paid", exact=True)).to_be_visible()
    await snap(page, "wallet-paid")
    assert (await shop.trade(trade_no))["state"] == "TRADE_SUCCESS"
    assert await balance(alice) == "CN¥187.66"
    await snap(alice.page, "wallet-home")

    # The payment is in the bills, with a page of its own.
    page = await alice.open("/wallet/bills")
    await page.get_by_label("Kind").select_option("payment")
    await page.get_by_role("button", name="Show").click()
    payment = page.get_by_role("link", name=re.compile("Payment.*-CN¥12.34"))
    await expect(payment).to_be_visible()
    await payment.click()
    await expect(page.get_by_role("heading", name="West Lake Tea House")).to_be_visible()

    # The shop refunds part of it through the REST API; the consumer sees it.
    await shop.refund(trade_no, 500)
    page = await alice.open("/wallet/bills")
    refund = page.get_by_role("link", name=re.compile(r"Refund.*\+CN¥5.00"))
    await expect(refund).to_be_visible()
    await snap(page, "wallet-bills")
    await refund.click()
    await expect(page.get_by_text("+CN¥5.00")).to_be_visible()
    await page.get_by_role("link", name="See the payment").click()
    await expect(page.get_by_test_id("refunded")).to_have_text("CN¥5.00")
    assert await balance(alice) == "CN¥192.66"

    # The same home on a desktop, and in Chinese.
    desktop = await site.new_page(DESKTOP)
    await desktop.goto(f"{site.url}/wallet/login")
    await desktop.get_by_label("Phone number").fill(alice.phone)
    await desktop.get_by_label("Password").fill("correct horse battery")
    await desktop.get_by_role("button", name="Sign in").click()
    await expect(desktop.get_by_test_id("balance-CNY")).to_have_text("CN¥192.66")
    await snap(desktop, "wallet-home-desktop")
    await desktop.get_by_role("link", name="简体中文").click()
    await expect(desktop.get_by_test_id("balance-CNY")).to_have_text("¥192.66")
    await expect(desktop.get_by_role("heading", name="最近收支")).to_be_visible()
    await snap(desktop, "wallet-home-zh")


async def test_a_transfer_to_a_phone_number(site: Site) -> None:
    alice = await site.consumer()
    bob = await site.consumer()
    await link_card(alice)
    await top_up(alice, "100")
    page = await alice.open("/wallet/transfer")
    await page.get_by_label("To phone number").fill(bob.phone)
    await page.get_by_label("Amount (CNY)").fill("12.5")
    await page.get_by_label("Note (optional)").fill("Dumplings")
    await page.get_by_role("button", name="Continue").click()
    await expect(page.get_by_text(bob.phone[-4:])).to_be_visible()
    await page.get_by_label("Payment PIN").fill("975310")
    await page.get_by_role("button", name="Send CN¥12.50").click()
    await expect(page.locator("#pin-error")).to_contain_text("Incorrect payment PIN")
    await page.get_by_label("Payment PIN").fill(PIN)
    await snap(page, "wallet-transfer-confirm")
    await page.get_by_role("button", name="Send CN¥12.50").click()
    await expect(page.get_by_role("heading", name="Money sent")).to_be_visible()
    await snap(page, "wallet-receipt")
    assert await balance(alice) == "CN¥87.50"
    assert await balance(bob) == "CN¥12.50"
    await expect(bob.page.get_by_text("Dumplings")).to_be_visible()


async def test_a_double_click_pays_once(site: Site) -> None:
    shop = await site.merchant("Jing'an Noodles")
    alice = await site.consumer()
    await link_card(alice)
    await top_up(alice, "100")
    made = await shop.precreate(2_000, "Beef noodles")
    page = await scan_text(alice, made["qr_payload"])
    await page.get_by_label("Payment PIN").fill(PIN)
    await page.get_by_role("button", name="Pay CN¥20.00").dblclick()
    await expect(page.get_by_role("heading", name="Paid", exact=True)).to_be_visible()
    assert await balance(alice) == "CN¥80.00"

    # A transfer's confirmation sent twice however it happens (a double click, or the
    # same form posted again with the page's script out of the way) sends once.
    bob = await site.consumer()
    page = await alice.open("/wallet/transfer")
    await page.get_by_label("To phone number").fill(bob.phone)
    await page.get_by_label("Amount (CNY)").fill("30")
    await page.get_by_role("button", name="Continue").click()
    await page.get_by_label("Payment PIN").fill(PIN)
    form = await page.evaluate(
        "Object.fromEntries(new FormData(document.querySelector('form[data-once]')))"
    )
    await page.get_by_role("button", name="Send CN¥30.00").dblclick()
    await expect(page.get_by_role("heading", name="Money sent")).to_be_visible()
    again = await page.request.post(f"{site.url}/wallet/transfer/confirm", form=form)
    assert again.ok and "Money sent" in await again.text()
    assert await balance(alice) == "CN¥50.00"
    assert await balance(bob) == "CN¥30.00"


async def test_payment_code_is_a_barcode_and_qr_code_a_till_can_read(site: Site) -> None:
    alice = await site.consumer()
    page = await alice.open("/wallet/paycode")
    code = await page.get_by_test_id("paycode").get_attribute("data-code")
    assert code is not None and len(code) == 18
    await expect(page.get_by_role("img", name="Barcode of your payment code")).to_be_visible()
    await snap(page, "wallet-paycode")
    # What a till's scanner sees: the rendered barcode and QR code, read by zxing-cpp.
    for test_id in ("barcode", "qr"):
        shot = await page.get_by_test_id(test_id).screenshot()
        found = zxingcpp.read_barcodes(Image.open(io.BytesIO(shot)))
        assert [result.text for result in found] == [code], test_id
