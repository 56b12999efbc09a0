"""Browser tests: a real `zhifu serve` and Debian's Chromium, driven by Playwright.

Chromium is the machine's (/usr/bin/chromium, installed by `make test`), launched headless
with the flags CI needs; Playwright never downloads a browser of its own. One server runs
for the whole session on a fresh database of the embedded PostgreSQL; each test opens its
own browser contexts (a phone, 390x844, unless it asks for a desktop), so cookies never
leak between people or tests.

Screenshots of the main pages are written to docs/screenshots/ when ZHIFU_SCREENSHOTS=1
(`make screenshots`), so ordinary runs leave the working tree alone.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

from tests.conftest import create_database, drop_database
from tests.e2e.harness import ServerProcess, cli
from tests.funding.support import card_number
from tests.identity.support import PASSWORD, PIN, random_phone

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 860}
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
TIMEOUT_MS = 20_000


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.fspath)).is_relative_to(here):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def zhifu_server(server_urls: dict[str, str]) -> Iterator[ServerProcess]:
    """`zhifu serve` on a database of its own."""
    url = create_database(server_urls["embedded"])
    server = ServerProcess(database_url=url)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        drop_database(server_urls["embedded"], url)


@pytest.fixture(scope="session")
async def chromium() -> AsyncIterator[Browser]:
    if not os.path.exists(CHROMIUM):  # noqa: ASYNC240 (once, before any browsing)
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs it (apt-get install chromium)")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True
        )
        yield browser
        await browser.close()


@dataclass
class Merchant:
    """A shop with a secret API key, using zhifu's REST API as its server would."""

    id: int
    name: str
    secret_key: str
    http: httpx.AsyncClient

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.secret_key}"}

    async def precreate(self, amount: int, subject: str = "Longjing tea, 250 g") -> dict[str, Any]:
        """A trade to show as a dynamic QR code: {"trade": ..., "qr_payload": ...}."""
        body = {"out_trade_no": uuid.uuid4().hex, "amount": amount, "subject": subject}
        answer = await self.http.post("/v1/acquiring/precreate", json=body, headers=self.headers)
        assert answer.status_code == 201, answer.text
        made: dict[str, Any] = answer.json()
        return made

    async def qr_png(self, trade_no: str) -> bytes:
        answer = await self.http.get(
            f"/v1/acquiring/trades/{trade_no}/qr.png", headers=self.headers
        )
        assert answer.status_code == 200, answer.text
        return answer.content

    async def trade(self, trade_no: str) -> dict[str, Any]:
        answer = await self.http.get(f"/v1/merchant/trades/{trade_no}", headers=self.headers)
        assert answer.status_code == 200, answer.text
        found: dict[str, Any] = answer.json()
        return found

    async def refund(self, trade_no: str, amount: int) -> dict[str, Any]:
        body = {"out_request_no": uuid.uuid4().hex, "amount": amount, "reason": "one cup broken"}
        headers = {**self.headers, "Idempotency-Key": body["out_request_no"]}
        answer = await self.http.post(
            f"/v1/merchant/trades/{trade_no}/refunds", json=body, headers=headers
        )
        assert answer.status_code == 201, answer.text
        refund: dict[str, Any] = answer.json()
        return refund


@dataclass
class Consumer:
    """A person with a phone (a browser context) who signs up in the wallet."""

    phone: str
    page: Page
    base_url: str

    async def open(self, path: str) -> Page:
        await self.page.goto(self.base_url + path)
        return self.page


@dataclass
class Site:
    """The running zhifu and the browsers pointed at it."""

    server: ServerProcess
    browser: Browser
    http: httpx.AsyncClient
    contexts: list[BrowserContext] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.server.url

    async def new_page(self, viewport: dict[str, int] = PHONE, locale: str = "en-GB") -> Page:
        context = await self.browser.new_context(viewport=viewport, locale=locale)
        context.set_default_timeout(TIMEOUT_MS)
        self.contexts.append(context)
        return await context.new_page()

    async def merchant(self, name: str = "West Lake Tea House") -> Merchant:
        made = await asyncio.to_thread(
            cli, "merchant", "create", "--name", name, database_url=self.server.database_url
        )
        return Merchant(int(made["id"]), made["name"], made["secret_key"], self.http)

    async def consumer(self, page: Page | None = None) -> Consumer:
        """Signs up through the wallet's pages: phone, password, payment PIN."""
        page = page or await self.new_page()
        phone = random_phone()
        await page.goto(f"{self.url}/wallet/signup")
        await page.get_by_label("Phone number").fill(phone)
        await page.get_by_label("Password", exact=True).fill(PASSWORD)
        await page.get_by_label("Payment PIN", exact=True).fill(PIN)
        await page.get_by_label("Payment PIN again").fill(PIN)
        await page.get_by_role("button", name="Create my wallet").click()
        await page.wait_for_url(f"{self.url}/wallet/")
        return Consumer(phone, page, self.url)

    async def close(self) -> None:
        for context in self.contexts:
            await context.close()


@pytest.fixture
async def site(zhifu_server: ServerProcess, chromium: Browser) -> AsyncIterator[Site]:
    async with httpx.AsyncClient(base_url=zhifu_server.url, timeout=30) as http:
        opened = Site(zhifu_server, chromium, http)
        yield opened
        await opened.close()


async def snap(page: Page, name: str, *, full_page: bool = True) -> None:
    """Save a screenshot for the docs when ZHIFU_SCREENSHOTS=1."""
    if os.environ.get("ZHIFU_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=full_page)


async def link_card(consumer: Consumer, last4: str = "1111") -> str:
    page = await consumer.open("/wallet/cards")
    number = card_number(last4)
    await page.get_by_label("Card or account number").fill(number)
    await page.get_by_label("Name on the card").fill("Li Lei")
    await page.get_by_role("button", name="Link", exact=True).click()
    await page.locator(".card-label", has_text=f"•••• {last4}").wait_for()
    return number


async def top_up(consumer: Consumer, amount: str) -> None:
    page = await consumer.open("/wallet/topup")
    await page.get_by_label("Amount (CNY)").fill(amount)
    await page.get_by_role("button", name="Continue").click()
    await page.get_by_role("button", name="Top up").click()
    await page.get_by_role("heading", name="Topped up").wait_for()


async def balance(consumer: Consumer) -> str:
    page = await consumer.open("/wallet/")
    return (await page.get_by_test_id("balance-CNY").inner_text()).strip()


__all__ = [
    "DESKTOP",
    "PHONE",
    "PIN",
    "Consumer",
    "Merchant",
    "Site",
    "balance",
    "link_card",
    "snap",
    "top_up",
]
