"""`zhifu demo`: a short story told through zhifu's REST API, over real HTTP.

It starts zhifu's API in this process on a free local port (on the configured database),
plays two consumers and a merchant through it, and prints every step.
"""

from __future__ import annotations

import asyncio
import random
import socket
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import typer
import uvicorn
from rich.console import Console

from zhifu.api.app import create_app
from zhifu.cli.common import DatabaseUrl, DataDir, console, run_with_runtime, settings
from zhifu.money import format_decimal
from zhifu.runtime import Runtime

CARD = "6222020200112233446"
PIN = "135790"
PASSWORD = "demo-story-1"

Step = Callable[[httpx.AsyncClient], Awaitable[Any]]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def yuan(amount: int) -> str:
    return f"¥{format_decimal(amount, 'CNY')}"


class Story:
    def __init__(self, http: httpx.AsyncClient, out: Console) -> None:
        self.http = http
        self.out = out

    async def call(self, method: str, path: str, token: str | None = None, **kw: Any) -> Any:
        headers = kw.pop("headers", {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        response = await self.http.request(method, path, headers=headers, **kw)
        if response.status_code >= 400:
            raise RuntimeError(f"{method} {path} -> {response.status_code}: {response.text}")
        return response.json() if response.content else None

    def say(self, text: str) -> None:
        self.out.print(f"[bold cyan]>[/bold cyan] {text}")

    async def consumer(self, name: str) -> tuple[str, str]:
        phone = f"139{random.randrange(10**8):08d}"
        await self.call("POST", "/v1/users", json={"phone": phone, "password": PASSWORD})
        session = await self.call(
            "POST", "/v1/sessions", json={"phone": phone, "password": PASSWORD}
        )
        token = session["token"]
        await self.call("PUT", "/v1/me/pin", token, json={"pin": PIN})
        self.say(f"{name} signs up with phone {phone} and sets a payment PIN")
        return phone, token

    async def money(self, token: str, method: str, path: str, body: dict[str, Any]) -> Any:
        key = {"Idempotency-Key": uuid.uuid4().hex}
        return await self.call(method, path, token, json=body, headers=key)

    async def balance(self, name: str, token: str) -> int:
        available = int((await self.call("GET", "/v1/balance", token))["available"])
        self.say(f"{name}'s wallet: {yuan(available)}")
        return available

    async def tell(self) -> None:
        _, li = await self.consumer("Li Lei")
        han_phone, han = await self.consumer("Han Meimei")
        card = await self.call("POST", "/v1/cards", li, json={"number": CARD, "kind": "card"})
        self.say(f"Li Lei links his {card['brand']} card ending {card['last4']}")
        topup = await self.money(
            li, "POST", "/v1/topups", {"card_id": card["id"], "amount": 50_000}
        )
        self.say(f"Li Lei tops up {yuan(50_000)} from it: the bank says {topup['state']}")
        await self.balance("Li Lei", li)
        receipt = await self.money(
            li,
            "POST",
            "/v1/transfers",
            {"to_phone": han_phone, "amount": 8_800, "memo": "lunch", "pin": PIN},
        )
        self.say(f"Li Lei sends Han Meimei {yuan(8_800)} for lunch (receipt {receipt['entry_id']})")
        await self.balance("Li Lei", li)
        await self.balance("Han Meimei", han)
        statement = await self.call("GET", "/v1/statement", han)
        for line in statement["lines"]:
            who = line["counterparty"]["phone"] or "the bank"
            self.say(
                f"  Han Meimei's statement: {line['kind']} {line['amount_decimal']} "
                f"({who}, memo {line['memo']!r}), balance after {line['balance_after_decimal']}"
            )
        han_card = await self.call("POST", "/v1/cards", han, json={"number": CARD, "kind": "card"})
        withdrawal = await self.money(
            han,
            "POST",
            "/v1/withdrawals",
            {"card_id": han_card["id"], "amount": 2_000, "pin": PIN},
        )
        self.say(f"Han Meimei withdraws {yuan(2_000)} to her card: {withdrawal['state']}")
        await self.balance("Han Meimei", han)


async def _tell(runtime: Runtime) -> bool:
    port = _free_port()
    config = uvicorn.Config(create_app(runtime), port=port, log_config=None, lifespan="off")
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 (uvicorn only exposes a flag)
        await asyncio.sleep(0.05)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            console.print(f"zhifu's API is up at http://127.0.0.1:{port}; the story:")
            await Story(http, console).tell()
        report = await runtime.ledger.verify()
        verdict = "every invariant holds" if report.ok else f"BREACHED: {report.breaches}"
        console.print(f"[bold]zhifu ledger verify[/bold]: {verdict}")
        return report.ok
    finally:
        server.should_exit = True
        await serving


def demo(data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """Tell a short story through the REST API and print it."""
    if not run_with_runtime(settings(data_dir, database_url), _tell):
        raise typer.Exit(1)
