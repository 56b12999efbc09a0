"""The wallet and the merchant portal fit a small phone: at 360 px wide no page of either
app scrolls sideways, in English or in Chinese. Wide content (the tab bar, tables) has to
wrap, condense or scroll inside its own box, never push the page wider than the screen."""

from __future__ import annotations

import re
from pprint import pformat

from playwright.async_api import Page, expect

from tests.browser.conftest import PIN, Site, link_card, snap, top_up
from tests.browser.portal_support import RestBuyer, portal

SMALL_PHONE = {"width": 360, "height": 740}
LOCALES = ("en", "zh_CN")

# What sticks out past the right edge of the screen, for the failure message.
OVERFLOWING = """
() => [...document.querySelectorAll("body *")]
  .filter((el) => el.getBoundingClientRect().right > window.innerWidth + 0.5)
  .filter((el) => ![...el.children].some((c) => c.getBoundingClientRect().right > window.innerWidth + 0.5))
  .slice(0, 5)
  .map((el) => `${el.tagName.toLowerCase()}.${el.className} (${Math.round(el.getBoundingClientRect().right)} px)`)
"""  # noqa: E501


async def too_wide(page: Page, base_url: str, paths: list[str]) -> dict[str, object]:
    """Each page at each language that is wider than the screen, with what overflows."""
    found: dict[str, object] = {}
    for locale in LOCALES:
        await page.goto(f"{base_url}/language/{locale}?next=/")
        for path in paths:
            await page.goto(base_url + path)
            width = await page.evaluate("document.documentElement.scrollWidth")
            if width > SMALL_PHONE["width"]:
                found[f"{locale} {path}"] = (width, await page.evaluate(OVERFLOWING))
    await page.goto(f"{base_url}/language/en?next=/")
    return found


async def test_every_wallet_page_fits_a_360_px_screen(site: Site) -> None:
    page = await site.new_page(SMALL_PHONE)
    signed_out = await too_wide(page, site.url, ["/", "/wallet/login", "/wallet/signup"])
    alice = await site.consumer(page)
    await link_card(alice, "1111")
    await top_up(alice, "300")
    shop = await site.merchant("Hangzhou West Lake Longjing Tea House and Pastry Kitchen")
    made = await shop.precreate(1_234, subject="Longjing tea, 250 g, in a gift tin with a card")
    trade = f"/wallet/trades/{made['trade']['trade_no']}"
    page = await alice.open("/wallet/scan")
    await page.get_by_label("Or the code's text").fill(made["qr_payload"])
    await page.get_by_role("button", name="Read the code").click()
    await page.wait_for_url(re.compile(r".*/wallet/trades/[0-9]+$"))
    unpaid = await too_wide(page, site.url, [trade])
    await page.goto(site.url + trade)
    await page.get_by_label("Payment PIN").fill(PIN)
    await page.get_by_role("button", name="Pay CN¥12.34").click()
    await expect(page.get_by_role("heading", name="Paid", exact=True)).to_be_visible()

    page = await alice.open("/wallet/bills")
    await page.get_by_role("link", name=re.compile("Payment.*-CN¥12.34")).click()
    bill = page.url.removeprefix(site.url)
    sections = [
        "/wallet/", "/wallet/scan", "/wallet/paycode", "/wallet/transfer", "/wallet/bills",
        "/wallet/cards", "/wallet/escrow", "/wallet/topup", "/wallet/withdraw", bill, trade,
    ]  # fmt: skip
    signed_in = await too_wide(page, site.url, sections)
    await page.goto(f"{site.url}/wallet/")
    await snap(page, "wallet-home-360")

    wider = {**signed_out, **unpaid, **signed_in}
    assert not wider, pformat(wider)


async def test_every_portal_page_fits_a_360_px_screen(site: Site) -> None:
    shop = await site.merchant("Hangzhou West Lake Longjing Tea House and Pastry Kitchen")
    buyer = await RestBuyer.signed_up(site.http, topup=50_000)
    trade_nos = []
    for amount, subject in [
        (1_880, "Two croissants"),
        (12_345, "Longjing tea, 250 g, in a gift tin with a handwritten card"),
        (6_600, "Peonies"),
    ]:
        made = await shop.precreate(amount, subject)
        await buyer.scan_and_pay(made["qr_payload"])
        trade_nos.append(made["trade"]["trade_no"])
    await shop.refund(trade_nos[1], 500)
    waiting = (await shop.precreate(999, "A cake not paid for yet"))["trade"]["trade_no"]

    login = await site.new_page(SMALL_PHONE)
    signed_out = await too_wide(login, site.url, ["/merchant/login"])
    page = await portal(site, shop)  # signed in on a desktop, then held like a phone
    await page.set_viewport_size(SMALL_PHONE)
    pages = [
        "/merchant/", "/merchant/trades", f"/merchant/trades/{trade_nos[1]}",
        f"/merchant/trades/{waiting}", "/merchant/cashier", f"/merchant/cashier/{waiting}",
        "/merchant/stores", "/merchant/keys", "/merchant/webhooks", "/merchant/settlement",
    ]  # fmt: skip
    signed_in = await too_wide(page, site.url, pages)
    await page.goto(f"{site.url}/merchant/trades")
    await expect(page.get_by_role("link", name=trade_nos[0])).to_be_visible()
    await snap(page, "portal-trades-360")

    wider = {**signed_out, **signed_in}
    assert not wider, pformat(wider)
