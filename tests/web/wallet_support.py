"""A browser for the wallet's pages over HTTP (httpx on the ASGI app): it keeps its
cookies, remembers the last page, and posts that page's forms as a person would."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.identity.support import PASSWORD, PIN, fund, random_phone
from zhifu.api.app import create_app
from zhifu.merchants import Merchant
from zhifu.payments import NewTrade, Trade
from zhifu.payments.acquiring import Order
from zhifu.runtime import Runtime

HIDDEN = re.compile(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)">')


def hidden_fields(html: str) -> dict[str, str]:
    """The hidden fields of the page's last form (csrf_token, form_key, carried values)."""
    return dict(HIDDEN.findall(html))


def labelled_inputs(html: str) -> bool:
    """Whether every visible input, select and textarea has a <label for> naming it."""
    controls = re.findall(r"<(?:input|select|textarea)\b[^>]*>", html)
    ids = [re.search(r'\bid="([^"]+)"', tag) for tag in controls if 'type="hidden"' not in tag]
    labels = set(re.findall(r'<label[^>]*\bfor="([^"]+)"', html))
    return all(found is not None and found.group(1) in labels for found in ids)


@dataclass
class WalletBrowser:
    http: httpx.AsyncClient
    page: httpx.Response | None = None

    async def get(self, path: str, **params: Any) -> httpx.Response:
        self.page = await self.http.get(path, params=params or None)
        return self.page

    @property
    def hidden(self) -> dict[str, str]:
        assert self.page is not None
        return hidden_fields(self.page.text)

    async def submit(self, path: str, **fields: Any) -> httpx.Response:
        """Post to `path` with the last page's hidden fields and `fields`, as pressing a
        button of that page does; the answer becomes the page (redirects not followed)."""
        data = {**self.hidden, **fields}
        answer = await self.http.post(path, data=data)
        self.page = answer
        return answer

    async def follow(self, answer: httpx.Response) -> httpx.Response:
        assert answer.status_code == 303, (answer.status_code, answer.text[-2000:])
        return await self.get(answer.headers["location"])

    async def sign_up(self, phone: str | None = None, pin: str = PIN) -> str:
        phone = phone or random_phone()
        await self.get("/wallet/signup")
        answer = await self.submit(
            "/wallet/signup", phone=phone, password=PASSWORD, pin=pin, pin_again=pin
        )
        assert answer.status_code == 303, answer.text[-2000:]
        return phone

    async def sign_in(self, phone: str) -> None:
        await self.get("/wallet/login")
        answer = await self.submit("/wallet/login", phone=phone, password=PASSWORD)
        assert answer.status_code == 303, answer.text[-2000:]


@dataclass(frozen=True)
class Person:
    user_id: int
    phone: str
    browser: WalletBrowser


@dataclass
class Wallets:
    """People with browsers, merchants and trades, on one runtime."""

    runtime: Runtime
    clients: list[httpx.AsyncClient] = field(default_factory=list)

    def browser(self, base_url: str = "http://zhifu.test") -> WalletBrowser:
        transport = httpx.ASGITransport(app=create_app(self.runtime))
        http = httpx.AsyncClient(transport=transport, base_url=base_url)
        self.clients.append(http)
        return WalletBrowser(http)

    async def person(self, balance: int = 0, tier: int = 3) -> Person:
        """Signed up through the pages, moved to `tier`, with `balance` in the wallet."""
        browser = self.browser()
        phone = await browser.sign_up()
        user = await self.runtime.users.by_phone(phone)
        await self.runtime.users.set_kyc_tier(user.id, tier)
        if balance:
            wallet = await self.runtime.users.wallet(user.id)
            await fund(self.runtime.db, self.runtime.ledger, wallet, balance)
        return Person(user.id, phone, browser)

    async def balance(self, person: Person) -> int:
        return (await self.runtime.transfers.balance(person.user_id)).available

    async def merchant(self) -> Merchant:
        merchant, _ = await self.runtime.payments.merchants.create(
            f"Tea House {uuid.uuid4().hex[:6]}"
        )
        return merchant

    async def qr_trade(self, merchant: Merchant, amount: int) -> tuple[Trade, str]:
        """A trade and its dynamic QR payload, as a shop's till makes them."""
        order = Order(out_trade_no=uuid.uuid4().hex, amount=amount, subject="Oolong tea")
        made = await self.runtime.payments.methods.precreate(merchant, order)
        return made.trade, made.qr_payload

    async def escrow_trade(self, merchant: Merchant, buyer: Person, amount: int) -> Trade:
        request = NewTrade(
            out_trade_no=uuid.uuid4().hex, amount=amount, subject="Teapot", escrow=True
        )
        trade = await self.runtime.payments.trades.create(merchant, request)
        paid = await self.runtime.payments.paying.pay_trade(trade.trade_no, buyer.user_id, pin=PIN)
        return paid.trade

    async def books_balance(self) -> None:
        report = await self.runtime.ledger.verify()
        assert report.ok, report.breaches

    async def close(self) -> None:
        for http in self.clients:
            await http.aclose()


__all__ = ["PASSWORD", "PIN", "Person", "WalletBrowser", "Wallets", "labelled_inputs"]
