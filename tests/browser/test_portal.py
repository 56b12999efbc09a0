"""The merchant portal in a real browser: sign in, make a sale at the cashier and watch
it get paid without reloading, refund part of it from the trade's page (a double click
refunds once), and the developer and settlement pages."""

from __future__ import annotations

import re

from playwright.async_api import expect

from tests.browser.conftest import DESKTOP, Site, snap
from tests.browser.portal_support import RestBuyer, portal, qr_text, reload_until, sell


async def test_cashier_sale_paid_live_then_partly_refunded(site: Site) -> None:
    shop = await site.merchant("Bund Bakery")
    login = await site.new_page(DESKTOP)
    await login.goto(f"{site.url}/merchant/login")
    await snap(login, "portal-login")
    page = await portal(site, shop)
    await expect(page.get_by_test_id("takings-today")).to_have_text("CN¥0.00")

    trade_no = await sell(page, "18.80", "Two croissants")
    payload = await qr_text(page)
    await snap(page, "portal-cashier-qr")
    # Mark this very document: if the page reloaded, the mark would be gone.
    await page.evaluate("document.body.dataset.sameDocument = 'yes'")

    buyer = await RestBuyer.signed_up(site.http, topup=10_000)
    paid = await buyer.scan_and_pay(payload)
    assert (paid["trade_no"], paid["state"]) == (trade_no, "TRADE_SUCCESS")
    await expect(page.get_by_test_id("sale-paid")).to_have_text("Paid · CN¥18.80")
    assert await page.evaluate("document.body.dataset.sameDocument") == "yes"
    await snap(page, "portal-cashier-paid")

    await page.get_by_role("link", name="Trade details").click()
    await page.get_by_label("Amount to refund").fill("5")
    await page.get_by_label("Reason (optional)").fill("one was burnt")
    await page.get_by_role("button", name="Refund…").click()
    await expect(page.get_by_role("heading", name="Refund CN¥5.00 to the buyer?")).to_be_visible()
    await snap(page, "portal-refund-confirm")
    await page.get_by_role("button", name="Refund CN¥5.00").click()
    await expect(page.get_by_role("status")).to_have_text("Refunded CN¥5.00 to the buyer.")
    await expect(page.get_by_test_id("refunded")).to_have_text("CN¥5.00")
    await expect(page.get_by_test_id("refunds")).to_contain_text("one was burnt")
    await snap(page, "portal-trade")
    trade = await shop.trade(trade_no)
    assert (trade["state"], trade["refunded_amount"]) == ("TRADE_SUCCESS", 500)

    await page.get_by_role("link", name="Dashboard", exact=True).click()
    await expect(page.get_by_test_id("takings-today")).to_have_text("CN¥18.80")
    await snap(page, "portal-dashboard")
    await page.get_by_role("link", name="Trades", exact=True).click()
    await page.get_by_label("Search").fill("croissant")
    await page.get_by_role("button", name="Find").click()
    await expect(page.get_by_role("link", name=trade_no)).to_be_visible()
    await snap(page, "portal-trades")
    await page.get_by_role("link", name="简体中文").click()
    await expect(page.get_by_role("heading", name="交易", exact=True)).to_be_visible()
    await page.get_by_role("link", name="概览", exact=True).click()
    await expect(page.get_by_test_id("takings-today")).to_have_text("¥18.80")
    await snap(page, "portal-dashboard-zh")


async def test_a_double_click_on_the_refund_refunds_once(site: Site) -> None:
    shop = await site.merchant("Lujiazui Dumplings")
    page = await portal(site, shop)
    trade_no = await sell(page, "40", "Soup dumplings")
    buyer = await RestBuyer.signed_up(site.http, topup=10_000)
    await buyer.scan_and_pay(await qr_text(page))
    await expect(page.get_by_test_id("sale-paid")).to_be_visible()

    await page.goto(f"{site.url}/merchant/trades/{trade_no}")
    await page.get_by_label("Amount to refund").fill("12")
    await page.get_by_role("button", name="Refund…").click()
    confirm = page.get_by_role("button", name="Refund CN¥12.00")
    await confirm.wait_for()  # the confirmation page is there before its form is read
    form = await page.evaluate(
        "Object.fromEntries(new FormData(document.querySelector('form[data-once]')))"
    )
    # The page's script keeps a form from going twice; take it out of the way so both
    # clicks reach the server, which must still refund once.
    await page.evaluate("document.querySelector('form[data-once]').removeAttribute('data-once')")
    await confirm.dblclick()
    await expect(page.get_by_role("status")).to_have_text("Refunded CN¥12.00 to the buyer.")
    again = await page.request.post(
        f"{site.url}/merchant/trades/{trade_no}/refund/confirm", form=form
    )
    assert again.ok and "Refunded CN¥12.00 to the buyer." in await again.text()
    answer = await site.http.get(f"/v1/merchant/trades/{trade_no}/refunds", headers=shop.headers)
    assert [refund["amount"] for refund in answer.json()["refunds"]] == [1_200]
    assert (await shop.trade(trade_no))["refunded_amount"] == 1_200
    balance = await buyer.call("GET", "/v1/balance")
    assert balance["available"] == 10_000 - 4_000 + 1_200


async def test_stores_keys_webhooks_and_settlement(site: Site) -> None:
    shop = await site.merchant("Xintiandi Flowers")
    page = await portal(site, shop)

    await page.get_by_role("link", name="Stores", exact=True).click()
    await page.get_by_label("Store name").fill("Xintiandi")
    await page.get_by_role("button", name="Add the store").click()
    await page.get_by_label("New terminal at Xintiandi").fill("Till 1")
    await page.get_by_role("button", name="Add the terminal").click()
    await expect(page.get_by_text("Till 1")).to_be_visible()
    await snap(page, "portal-stores")

    await page.get_by_role("link", name="API keys", exact=True).click()
    await page.get_by_role("button", name="Create a key").click()
    secret = await page.get_by_test_id("secret-key").input_value()
    await snap(page, "portal-key-created")
    headers = {"Authorization": f"Bearer {secret}"}
    assert (await site.http.get("/v1/merchant", headers=headers)).status_code == 200
    await page.get_by_role("link", name="I have copied it").click()
    await expect(page.get_by_text(secret)).to_have_count(0)
    await page.get_by_role("link", name=f"Revoke sk_{secret.split('_')[1]}").click()
    await page.get_by_role("button", name="Revoke the key").click()
    await expect(page.get_by_role("status")).to_have_text(
        "The key was revoked: it no longer works."
    )
    await snap(page, "portal-keys")
    assert (await site.http.get("/v1/merchant", headers=headers)).status_code == 401

    await page.get_by_role("link", name="Webhooks", exact=True).click()
    await page.get_by_label("Endpoint URL").fill("ftp://flowers.example/events")
    await page.get_by_role("button", name="Save the endpoint").click()
    await expect(page.locator("#url-error")).to_contain_text("starting https://")
    await page.get_by_label("Endpoint URL").fill("http://127.0.0.1:9/zhifu/events")
    await page.get_by_label("trade.paid").check()
    await page.get_by_role("button", name="Save the endpoint").click()
    await expect(page.get_by_test_id("webhook-secret")).to_have_value(re.compile("^whsec_"))
    trade_no = await sell(page, "66", "Peonies")
    buyer = await RestBuyer.signed_up(site.http, topup=10_000)
    await buyer.scan_and_pay(await qr_text(page))
    await page.get_by_role("link", name="Webhooks", exact=True).click()
    await reload_until(page, 'data-testid="deliveries"')  # made by the server's worker
    await page.get_by_role("button", name=re.compile("^Resend")).first.click()
    await expect(page.get_by_role("status")).to_have_text("The event was queued to be sent again.")
    await snap(page, "portal-webhooks")
    assert trade_no

    await page.get_by_role("link", name="Settlement", exact=True).click()
    await page.get_by_label("Bank").fill("Bank of Shanghai")
    await page.get_by_label("Account or card number").fill("123")
    await page.get_by_role("button", name="Save the account").click()
    await expect(page.locator("#number-error")).to_contain_text("not a valid card or account")
    await page.get_by_label("Account or card number").fill("6222020200112233446")
    await page.get_by_role("button", name="Save the account").click()
    await expect(page.get_by_test_id("settlement-account")).to_have_text(
        "Bank of Shanghai •••• 3446"
    )
    await snap(page, "portal-settlement")
