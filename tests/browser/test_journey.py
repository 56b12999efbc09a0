"""The whole journey, two people, two browsers: a consumer on a phone signs up, links a
card and tops up; a merchant at a desk rings up a sale at the cashier; the consumer
scans the code and pays; the cashier shows it paid without reloading; the merchant
refunds part of it from the trade's page; the consumer finds the refund in the bills."""

from __future__ import annotations

import re

from playwright.async_api import expect

from tests.browser.conftest import PIN, Site, balance, link_card, snap, top_up
from tests.browser.portal_support import portal, qr_text, sell


async def test_sign_up_top_up_pay_at_the_cashier_and_get_a_partial_refund(site: Site) -> None:
    # The consumer, on a phone.
    alice = await site.consumer()
    await link_card(alice, "1881")
    await top_up(alice, "150")
    assert await balance(alice) == "CN¥150.00"

    # The merchant, at a desk: a sale at the cashier, its QR code on the screen.
    shop = await site.merchant("Yu Garden Tea Room")
    cashier = await portal(site, shop)
    trade_no = await sell(cashier, "36.60", "Pot of Longjing, two cakes")
    payload = await qr_text(cashier)
    await cashier.evaluate("document.body.dataset.sameDocument = 'yes'")

    # The consumer scans it (the code's text, as a camera would read it) and pays.
    page = await alice.open("/wallet/scan")
    await page.get_by_label("Or the code's text").fill(payload)
    await page.get_by_role("button", name="Read the code").click()
    await page.wait_for_url(re.compile(rf".*/wallet/trades/{trade_no}$"))
    await expect(page.get_by_role("heading", name="Yu Garden Tea Room")).to_be_visible()
    await page.get_by_label("Payment PIN").fill(PIN)
    await page.get_by_role("button", name="Pay CN¥36.60").click()
    await expect(page.get_by_role("heading", name="Paid", exact=True)).to_be_visible()

    # The cashier's page shows it paid by itself: the same document, never reloaded.
    await expect(cashier.get_by_test_id("sale-paid")).to_have_text("Paid · CN¥36.60")
    assert await cashier.evaluate("document.body.dataset.sameDocument") == "yes"
    await snap(cashier, "journey-cashier-paid")
    assert await balance(alice) == "CN¥113.40"

    # The merchant refunds part of it from the trade's page, and confirms.
    await cashier.get_by_role("link", name="Trade details").click()
    await cashier.get_by_label("Amount to refund").fill("6.60")
    await cashier.get_by_label("Reason (optional)").fill("cakes sold out")
    await cashier.get_by_role("button", name="Refund…").click()
    await cashier.get_by_role("button", name="Refund CN¥6.60").click()
    await expect(cashier.get_by_role("status")).to_have_text("Refunded CN¥6.60 to the buyer.")

    # The consumer sees the refund in the bills, and the money back.
    page = await alice.open("/wallet/bills")
    refund = page.get_by_role("link", name=re.compile(r"Refund.*\+CN¥6.60"))
    await expect(refund).to_be_visible()
    await snap(page, "journey-wallet-refund")
    assert await balance(alice) == "CN¥120.00"
    assert (await shop.trade(trade_no))["refunded_amount"] == 660
