"""The merchant portal as the browser tests use it: a staff login signed in on a desktop,
a sale rung up at the cashier, and a consumer who pays through the REST API."""

from __future__ import annotations

import asyncio
import re
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from playwright.async_api import Page, expect

from tests.browser.conftest import DESKTOP, PIN, Merchant, Site
from tests.e2e.harness import cli
from tests.funding.support import card_number
from tests.identity.support import PASSWORD, random_phone

STAFF_PASSWORD = "counter-till-7"


async def portal(site: Site, shop: Merchant, *, locale: str = "en-GB") -> Page:
    """A login for the shop's staff (made with `zhifu merchant login-create`), signed in
    on a desktop."""
    login = f"till{uuid.uuid4().hex[:8]}"
    made = await asyncio.to_thread(
        cli, "merchant", "login-create", "--merchant", str(shop.id), "--login", login,
        "--password", STAFF_PASSWORD, database_url=site.server.database_url,
    )  # fmt: skip
    assert (made["merchant_id"], made["login"]) == (shop.id, login)
    page = await site.new_page(DESKTOP, locale=locale)
    await page.goto(f"{site.url}/merchant/login")
    await page.get_by_label("Login name or phone number").fill(login)
    await page.get_by_label("Password").fill(STAFF_PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(f"{site.url}/merchant/")
    return page


@dataclass
class RestBuyer:
    """A consumer paying through zhifu's REST API, as the zhifu app would."""

    http: httpx.AsyncClient
    headers: dict[str, str]

    @classmethod
    async def signed_up(cls, http: httpx.AsyncClient, topup: int) -> RestBuyer:
        credentials = {"phone": random_phone(), "password": PASSWORD}
        assert (await http.post("/v1/users", json=credentials)).status_code == 201
        session = await http.post("/v1/sessions", json=credentials)
        buyer = cls(http, {"Authorization": f"Bearer {session.json()['token']}"})
        await buyer.call("PUT", "/v1/me/pin", json={"pin": PIN})
        card = await buyer.call("POST", "/v1/cards", json={"number": card_number("4242")})
        await buyer.call(
            "POST", "/v1/topups", json={"card_id": card["id"], "amount": topup},
            headers={"Idempotency-Key": uuid.uuid4().hex},
        )  # fmt: skip
        return buyer

    async def call(self, method: str, path: str, **kw: Any) -> Any:
        headers = {**self.headers, **kw.pop("headers", {})}
        answer = await self.http.request(method, path, headers=headers, **kw)
        assert answer.status_code < 300, answer.text
        return answer.json() if answer.content else None

    async def scan_and_pay(self, payload: str) -> dict[str, Any]:
        scanned = await self.call("POST", "/v1/scan", json={"payload": payload})
        paid: dict[str, Any] = await self.call(
            "POST", f"/v1/trades/{scanned['trade_no']}/pay", json={"pin": PIN}
        )
        return paid


async def sell(page: Page, amount: str, subject: str) -> str:
    """Ring up a sale at the cashier; the trade number and its QR code's text."""
    await page.get_by_role("link", name="Cashier", exact=True).click()
    await page.get_by_label("Amount (CNY)").fill(amount)
    await page.get_by_label("What for").fill(subject)
    await page.get_by_role("button", name="Show the QR code").click()
    await page.wait_for_url(re.compile(r".*/merchant/cashier/[0-9]+$"))
    await expect(page.get_by_text("Waiting for the customer to pay")).to_be_visible()
    return page.url.rsplit("/", 1)[1]


async def reload_until(page: Page, text: str, tries: int = 100) -> None:
    """Reload the page until it shows `text` (made meanwhile by another process)."""
    for _ in range(tries):
        if text in await page.content():
            return
        await asyncio.sleep(0.2)
        await page.reload()
    raise AssertionError(f"{text!r} never appeared on {page.url}")


async def qr_text(page: Page) -> str:
    await page.get_by_text("The code as text").click()
    return await page.get_by_test_id("qr-payload").input_value()
