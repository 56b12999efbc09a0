"""The server killed with SIGKILL under load and restarted: every acknowledged transfer is
there, retries of the unanswered ones apply once, and the ledger verifies."""

from __future__ import annotations

import asyncio
import os
import random
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.harness import ServerProcess, cli

PIN = "135790"
TOPUP = 1_000_000  # 10,000.00 each
CARD = "6222020200112233446"  # a card the bank simulator always honours


@dataclass
class Ledgerbook:
    acknowledged: dict[str, int] = field(default_factory=dict)  # idempotency key -> entry id
    unanswered: dict[str, dict[str, object]] = field(default_factory=dict)  # key -> body
    enough: asyncio.Event = field(default_factory=asyncio.Event)


async def open_funded_user(http: httpx.AsyncClient, options: dict[str, Any]) -> tuple[str, str]:
    """A user at KYC tier 3 (asked for over HTTP, approved with the operator's CLI on the
    server's database `options`), with a PIN and a topped-up wallet."""
    phone = f"139{random.randrange(10**8):08d}"
    await http.post("/v1/users", json={"phone": phone, "password": "crash-test-pw"})
    login = await http.post("/v1/sessions", json={"phone": phone, "password": "crash-test-pw"})
    token = login.json()["token"]
    auth = {"Authorization": f"Bearer {token}"}
    asked = await http.post(
        "/v1/me/kyc", json={"tier": 3}, headers={**auth, "Idempotency-Key": uuid.uuid4().hex}
    )
    await asyncio.to_thread(cli, "kyc", "approve", asked.json()["id"], **options)
    await http.put("/v1/me/pin", json={"pin": PIN}, headers=auth)
    card = await http.post("/v1/cards", json={"number": CARD, "kind": "card"}, headers=auth)
    topup = await http.post(
        "/v1/topups",
        json={"card_id": card.json()["id"], "amount": TOPUP, "currency": "CNY"},
        headers={**auth, "Idempotency-Key": uuid.uuid4().hex},
    )
    assert topup.json()["state"] == "succeeded", topup.text
    return phone, token


async def transfer_until_killed(
    url: str, users: list[tuple[str, str]], book: Ledgerbook, stop: asyncio.Event
) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        while not stop.is_set():
            (_, token), (to_phone, _) = random.sample(users, 2)
            key = uuid.uuid4().hex
            body = {"to_phone": to_phone, "amount": random.randint(1, 500), "pin": PIN}
            book.unanswered[key] = {"token": token, "body": body}
            try:
                response = await http.post(
                    "/v1/transfers",
                    json=body,
                    headers={"Authorization": f"Bearer {token}", "Idempotency-Key": key},
                )
            except httpx.HTTPError:
                return
            if response.status_code in (200, 201):
                book.acknowledged[key] = response.json()["entry_id"]
                del book.unanswered[key]
                if len(book.acknowledged) >= 200:
                    book.enough.set()


@pytest.mark.parametrize("backend", ["embedded", "external"])
async def test_kill_under_load_loses_nothing(tmp_path: Path, backend: str) -> None:
    external = os.environ.get("ZHIFU_TEST_DATABASE_URL")
    if backend == "external" and not external:
        pytest.skip("ZHIFU_TEST_DATABASE_URL is not set")
    options: dict[str, object] = {"data_dir": tmp_path}
    if backend == "external":
        from tests.conftest import create_database, drop_database

        url = create_database(str(external))
        options = {"database_url": url}
    server = ServerProcess(**options).start()  # type: ignore[arg-type]
    book = Ledgerbook()
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            users = [await open_funded_user(http, options) for _ in range(4)]
        stop = asyncio.Event()
        clients = [
            asyncio.create_task(transfer_until_killed(server.url, users, book, stop))
            for _ in range(16)
        ]
        await asyncio.wait_for(book.enough.wait(), timeout=120)
        await asyncio.to_thread(server.kill)
        stop.set()
        await asyncio.gather(*clients)
    finally:
        if server.process and server.process.poll() is None:
            server.kill()

    restarted = ServerProcess(**options).start()  # type: ignore[arg-type]
    try:
        async with httpx.AsyncClient(base_url=restarted.url, timeout=30) as http:
            tokens = {token for _, token in users}
            token = next(iter(tokens))
            for key, entry_id in book.acknowledged.items():
                receipts = [
                    await http.get(
                        f"/v1/transfers/{entry_id}", headers={"Authorization": f"Bearer {t}"}
                    )
                    for t in tokens
                ]
                assert any(r.status_code == 200 for r in receipts), key
            for key, pending in book.unanswered.items():
                retry = await http.post(
                    "/v1/transfers",
                    json=pending["body"],
                    headers={"Authorization": f"Bearer {pending['token']}", "Idempotency-Key": key},
                )
                assert retry.status_code in (200, 201), retry.text
            total = 0
            for _, token in users:
                balance = await http.get(
                    "/v1/balance", headers={"Authorization": f"Bearer {token}"}
                )
                total += balance.json()["posted"]
            assert total == TOPUP * len(users)
        assert cli("ledger", "verify", **options)["ok"] is True  # type: ignore[arg-type]
    finally:
        assert restarted.stop() == 0
        if backend == "external":
            drop_database(str(external), url)
