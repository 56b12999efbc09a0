"""`zhifu bench payments`: end-to-end payments per second over HTTP (create + pay).

One real `zhifu serve` process on a fresh database; a load generator in this process
drives it through its REST API with C concurrent clients, each on its own keep-alive
connection, each doing in a loop:

1. the merchant creates a trade (POST /v1/acquiring/precreate, merchant secret key);
2. the consumer pays it (POST /v1/trades/{trade_no}/pay, session token, password-free).

A payment's latency is the time of both calls. Two cases: (a) 1,000 merchants, each
payment to one chosen at random; (b) one merchant receiving every payment (the hot
account case). Each client pays as its own consumer, so wallets do not contend.
`zhifu ledger verify` runs over everything at the end.

The machinery (a fresh database, the server process, `drive` and its `Level` of
figures) is shared with `zhifu bench gateway` (gateway.py).
"""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg

from zhifu.benchmarks.http_client import HttpConnection
from zhifu.db.embedded import start_embedded
from zhifu.db.settings import DatabaseSettings
from zhifu.ledger import AccountKind, system_account, transfer
from zhifu.runtime import Runtime
from zhifu.settings import Settings

CLIENTS = (1, 8, 32)
MERCHANT_CASES = (1000, 1)
AMOUNT = 1  # 0.01 CNY: well inside every password-free allowance
FUNDS = 10_000_000
PASSWORD = "bench-password-1"


@dataclass
class Cast:
    """Who takes part: merchants' secret keys and consumers' session tokens."""

    merchant_keys: list[str]
    consumer_tokens: list[str]


@dataclass
class Level:
    merchants: int
    clients: int
    payments: int
    errors: int
    seconds: float
    latencies_ms: list[float]
    client_cpu_s: float = 0.0  # CPU time of this (load generator) process during the run

    def row(self) -> dict[str, Any]:
        ordered = sorted(self.latencies_ms) or [0.0]
        return {
            "merchants": self.merchants,
            "clients": self.clients,
            "payments": self.payments,
            "errors": self.errors,
            "payments_per_s": round(self.payments / self.seconds, 1),
            "p50_ms": round(percentile(ordered, 0.50), 2),
            "p99_ms": round(percentile(ordered, 0.99), 2),
            "client_cpu_ms_per_payment": round(
                1000 * self.client_cpu_s / max(1, self.payments + self.errors), 3
            ),
        }


# One payment by client `index` on its connection: True if it was paid, False if it
# was refused, None when that client has nothing more to send.
Payment = Callable[[HttpConnection, int], Awaitable[bool | None]]


async def drive(port: int, level: Level, pay: Payment) -> Level:
    """`level.clients` clients, each on its own keep-alive connection, paying in a loop
    for `level.seconds`; figures go into `level`."""
    stop_at = time.perf_counter() + level.seconds

    async def client(index: int) -> None:
        http = await HttpConnection("127.0.0.1", port).open()
        try:
            while time.perf_counter() < stop_at:
                started = time.perf_counter()
                paid = await pay(http, index)
                if paid is None:
                    return
                if paid:
                    level.payments += 1
                    level.latencies_ms.append((time.perf_counter() - started) * 1000)
                else:
                    level.errors += 1
        finally:
            await http.close()

    cpu = time.process_time()
    await asyncio.gather(*(client(i) for i in range(level.clients)))
    level.client_cpu_s = time.process_time() - cpu
    return level


def percentile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def fresh_database(server_url: str) -> str:
    name = f"zhifu_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'create database "{name}"')
    params = psycopg.conninfo.conninfo_to_dict(server_url)
    params["dbname"] = name
    return psycopg.conninfo.make_conninfo("", **params)


async def _cast(runtime: Runtime, merchants: int, consumers: int) -> Cast:
    keys = []
    for number in range(merchants):
        _, key = await runtime.payments.merchants.create(f"Bench merchant {number}")
        assert key.secret_key is not None
        keys.append(key.secret_key)
    tokens = []
    for _ in range(consumers):
        _, phone = await funded_consumer(runtime)
        tokens.append((await runtime.users.login(phone, PASSWORD)).token)
    return Cast(keys, tokens)


async def funded_consumer(runtime: Runtime) -> tuple[int, str]:
    """A consumer at KYC tier 3 with FUNDS in the wallet: (user id, phone)."""
    clearing = await runtime.db.transaction(
        lambda conn: system_account(conn, AccountKind.BANK_CLEARING, "CNY")
    )
    phone = f"136{random.randrange(10**8):08d}"
    user = await runtime.users.signup(phone, PASSWORD, kyc_tier=3)
    wallet = await runtime.users.wallet(user.id)
    await runtime.ledger.execute(transfer(clearing.id, wallet, FUNDS, "CNY"))
    return user.id, phone


class Server:
    """`zhifu serve` in a child process on the benchmark's database."""

    def __init__(self, database_url: str, data_dir: Path) -> None:
        self.port = _free_port()
        self.log = data_dir / "server.log"
        command = [sys.executable, "-m", "zhifu.cli.main", "serve", "--port", str(self.port)]
        command += ["--database-url", database_url, "--data-dir", str(data_dir)]
        env = {**os.environ, "ZHIFU_LOG_LEVEL": "WARNING"}
        self.process = subprocess.Popen(
            command, stdout=self.log.open("w"), stderr=subprocess.STDOUT, env=env
        )

    def wait_ready(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/healthz").status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError(f"the server did not start: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=60)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _create_and_pay(merchant_keys: list[str], consumer_tokens: list[str]) -> Payment:
    """Client i: a trade for a random merchant, paid by consumer i (two requests)."""

    async def pay(http: HttpConnection, index: int) -> bool:
        merchant = {"Authorization": f"Bearer {random.choice(merchant_keys)}"}
        status, trade = await http.request(
            "POST",
            "/v1/acquiring/precreate",
            {"out_trade_no": uuid.uuid4().hex, "amount": AMOUNT, "subject": "bench"},
            merchant,
        )
        if status == 201 or status == 200:
            path = f"/v1/trades/{trade['trade']['trade_no']}/pay"
            consumer = {"Authorization": f"Bearer {consumer_tokens[index]}"}
            status, _ = await http.request("POST", path, {}, consumer)
        return status in (200, 201)

    return pay


async def _run_level(port: int, cast: Cast, merchants: int, clients: int, seconds: float) -> Level:
    pay = _create_and_pay(cast.merchant_keys[:merchants], cast.consumer_tokens)
    return await drive(port, Level(merchants, clients, 0, 0, seconds, []), pay)


async def verify_ledger(database_url: str, data_dir: Path) -> bool:
    runtime = await Runtime.start(
        Settings(db=DatabaseSettings(database_url=database_url, data_dir=data_dir))
    )
    try:
        return (await runtime.ledger.verify()).ok
    finally:
        await runtime.close()


def run_payments_bench(
    database_url: str | None,
    data_dir: Path | None,
    *,
    clients: tuple[int, ...] = CLIENTS,
    merchant_cases: tuple[int, ...] = MERCHANT_CASES,
    seconds: float = 10.0,
) -> dict[str, Any]:
    work_dir = Path(tempfile.mkdtemp(prefix="zhifu-bench-payments-"))
    server_url = database_url or start_embedded(data_dir or work_dir)
    bench_url = fresh_database(server_url)

    async def prepare() -> Cast:
        runtime = await Runtime.start(
            Settings(db=DatabaseSettings(database_url=bench_url, data_dir=work_dir))
        )
        try:
            return await _cast(runtime, max(merchant_cases), max(clients))
        finally:
            await runtime.close()

    cast = asyncio.run(prepare())
    server = Server(bench_url, work_dir)
    try:
        server.wait_ready()
        levels = [
            asyncio.run(_run_level(server.port, cast, merchants, count, seconds))
            for merchants in merchant_cases
            for count in clients
        ]
    finally:
        server.stop()
    rows = [level.row() for level in levels]
    return {
        "server": "external" if database_url else "embedded",
        "seconds_per_level": seconds,
        "levels": rows,
        "hot_ratio": _hot_ratios(rows),
        "ledger_verified": asyncio.run(verify_ledger(bench_url, work_dir)),
    }


def _hot_ratios(rows: list[dict[str, Any]]) -> dict[int, float]:
    """Per client count: one merchant's payments/s over the 1,000 merchants' figure."""
    by_case = {(row["merchants"], row["clients"]): row["payments_per_s"] for row in rows}
    ratios = {}
    for (merchants, count), rate in by_case.items():
        spread = by_case.get((max(m for m, _ in by_case), count))
        if merchants == 1 and spread:
            ratios[count] = round(rate / spread, 3)
    return ratios
