"""The embedded PostgreSQL killed under a running `zhifu serve`: health checks answer at
once, zhifu starts the database again, and nothing acknowledged before is lost."""

from __future__ import annotations

import os
import random
import signal
import time
import uuid
from pathlib import Path

import httpx

from tests.e2e.harness import ServerProcess, cli

CARD = "6222020200112233446"  # a card the bank simulator always honours
TOPUP = 10_000


def kill_postmaster(data_dir: Path) -> None:
    pid = int((data_dir / "pgdata" / "postmaster.pid").read_text().split()[0])
    os.kill(pid, signal.SIGKILL)


def wait_healthy(url: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("zhifu did not come back after its database was killed")


class Wallet:
    def __init__(self, http: httpx.Client) -> None:
        phone = f"139{random.randrange(10**8):08d}"
        http.post("/v1/users", json={"phone": phone, "password": "restart-test-pw"})
        login = http.post("/v1/sessions", json={"phone": phone, "password": "restart-test-pw"})
        self.http = http
        self.auth = {"Authorization": f"Bearer {login.json()['token']}"}
        card = http.post("/v1/cards", json={"number": CARD, "kind": "card"}, headers=self.auth)
        self.card_id = card.json()["id"]

    def top_up(self) -> httpx.Response:
        return self.http.post(
            "/v1/topups",
            json={"card_id": self.card_id, "amount": TOPUP, "currency": "CNY"},
            headers={**self.auth, "Idempotency-Key": uuid.uuid4().hex},
        )

    def balance(self) -> int:
        return int(self.http.get("/v1/balance", headers=self.auth).json()["posted"])


def test_killed_embedded_database_is_restarted_and_loses_nothing(tmp_path: Path) -> None:
    server = ServerProcess(data_dir=tmp_path).start()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            wallet = Wallet(http)
            assert wallet.top_up().json()["state"] == "succeeded"

            kill_postmaster(tmp_path)
            health = httpx.get(f"{server.url}/healthz", timeout=5)  # answers, up or down
            if health.status_code != 200:
                assert health.status_code == 503
                assert health.headers["content-type"] == "application/problem+json"
                assert health.json()["code"] == "service_unavailable"
            during = http.get("/v1/balance", headers=wallet.auth, timeout=5)  # no 30 s wait
            assert during.status_code in (200, 503), during.text

            wait_healthy(server.url)
            assert server.process is not None and server.process.poll() is None
            assert wallet.balance() == TOPUP  # acknowledged before the kill
            assert wallet.top_up().json()["state"] == "succeeded"
            assert wallet.balance() == 2 * TOPUP
    finally:
        assert server.stop() == 0
    assert cli("ledger", "verify", data_dir=tmp_path)["ok"] is True
