"""`zhifu bench gateway`: signed `alipay.trade.pay` calls per second through /gateway.do,
beside the same payments through the REST API.

Both sides make the same payment, a merchant's terminal charging a buyer's payment code
(0.01 CNY, within the password-free allowance), one request per payment:

- **gateway**: `alipay.trade.pay` (scene bar_code) to `/gateway.do`, sent as Ant's
  official SDK sends it (common parameters in the query string, `biz_content` in a form
  body), signed RSA2 with the app's key *for every request, inside the timed loop*, and
  the answer's signature checked with zhifu's platform key, as both SDKs do;
- **rest**: `POST /v1/acquiring/payment-code` with the merchant's secret key.

One real `zhifu serve` on a fresh database, C clients (8 by default) on keep-alive
connections from this process; each client is one merchant (an app for the gateway, an
API key for REST). The load generator shares the machine's cores with the server and
PostgreSQL, and a Python client signing RSA2 per request costs CPU there: the figures
include the client's CPU per payment and the part of it spent signing and verifying, so
that cost can be read off rather than hidden.

Payment codes are computed as the buyers' wallets compute them (generate_payment_code). A
device shows at most six codes a minute, so the buyers have enough devices for the
payments a run can make; `zhifu ledger verify` runs over everything at the end.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from cryptography.hazmat.primitives.asymmetric import rsa

from zhifu.benchmarks.http_client import HttpConnection
from zhifu.benchmarks.payments import (
    Level,
    Payment,
    Server,
    drive,
    fresh_database,
    funded_consumer,
    verify_ledger,
)
from zhifu.clock import SystemClock
from zhifu.db.embedded import start_embedded
from zhifu.db.settings import DatabaseSettings
from zhifu.money import format_decimal
from zhifu.openplatform.signing import canonical_string, load_public_key, public_pem, sign, verify
from zhifu.payments.acquiring import (
    CODE_SLOTS,
    MAX_ACTIVE_DEVICES,
    code_step,
    generate_payment_code,
)
from zhifu.runtime import Runtime
from zhifu.settings import Settings

CLIENTS = 8
AMOUNT = 1  # fen
TARGET_GATEWAY_VS_REST = 0.7
WARMUP_SECONDS = 1.0
# The payment codes provisioned allow this many payments per second in every run.
MAX_RATE = 300
METHOD = "alipay.trade.pay"
NODE = b'{"alipay_trade_pay_response":'
SIGN_FIELD = b',"sign":"'
FORM = "application/x-www-form-urlencoded;charset=utf-8"
_clock = SystemClock()


class CodesExhausted(RuntimeError):
    pass


class CodeBook:
    """The buyers' payment codes, as their wallets show them: six per device a minute
    (CODE_SLOTS). Codes go round the devices slot by slot, so consecutive payments
    come from different buyers."""

    def __init__(self, devices: list[tuple[int, bytes]]) -> None:
        self.devices = devices
        self._step = -1
        self._next = 0

    @property
    def per_minute(self) -> int:
        return len(self.devices) * CODE_SLOTS

    def code(self) -> str:
        now = _clock.now()
        step = code_step(now)
        if step != self._step:
            self._step, self._next = step, 0
        if self._next >= self.per_minute:
            raise CodesExhausted(f"all {self.per_minute} payment codes of this minute are used")
        slot, index = divmod(self._next, len(self.devices))
        self._next += 1
        device_id, secret = self.devices[index]
        return generate_payment_code(device_id, secret, now, slot=slot)


@dataclass(frozen=True)
class Till:
    """One client: a merchant with an API key (REST) and an app with its key (gateway)."""

    secret_key: str
    app_id: str
    app_key: rsa.RSAPrivateKey


@dataclass
class Cast:
    tills: list[Till]
    platform_key: rsa.RSAPublicKey
    book: CodeBook
    buyers: int


@dataclass
class SigningCost:
    """CPU time this process spent signing requests and verifying answers."""

    sign_s: float = 0.0
    verify_s: float = 0.0
    calls: int = 0

    def row(self) -> dict[str, float]:
        calls = max(1, self.calls)
        return {
            "client_sign_ms_per_payment": round(1000 * self.sign_s / calls, 3),
            "client_verify_ms_per_payment": round(1000 * self.verify_s / calls, 3),
        }


# --------------------------------------------------------------------------- the cast


def devices_needed(seconds: float, clients: int) -> int:
    """Enough devices for MAX_RATE payments a second through both runs and their warm-ups,
    even if they all fall within one minute."""
    payments = MAX_RATE * 2 * (seconds + WARMUP_SECONDS)
    return max(clients, math.ceil(payments / CODE_SLOTS))


async def _till(runtime: Runtime, number: int) -> Till:
    merchant, key = await runtime.payments.merchants.create(f"Gateway bench merchant {number}")
    assert key.secret_key is not None
    app_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    app = await runtime.openplatform.create_app(merchant.id, public_pem(app_key.public_key()))
    return Till(key.secret_key, app.app_id, app_key)


async def _buyer_devices(runtime: Runtime) -> list[tuple[int, bytes]]:
    user_id, _ = await funded_consumer(runtime)
    devices = []
    for number in range(MAX_ACTIVE_DEVICES):
        new = await runtime.payments.devices.register(user_id, f"bench phone {number}")
        devices.append((new.device.id, new.code_secret))
    return devices


async def _cast(runtime: Runtime, clients: int, devices: int) -> Cast:
    tills = [await _till(runtime, number) for number in range(clients)]
    platform_key = load_public_key(await runtime.openplatform.platform_public_key())
    buyers = math.ceil(devices / MAX_ACTIVE_DEVICES)
    gate = asyncio.Semaphore(8)

    async def one() -> list[tuple[int, bytes]]:
        async with gate:
            return await _buyer_devices(runtime)

    per_buyer = await asyncio.gather(*(one() for _ in range(buyers)))
    # Device d of every buyer, then device d+1...: neighbours in the list are other buyers.
    interleaved = [device for row in zip(*per_buyer, strict=True) for device in row]
    return Cast(tills, platform_key, CodeBook(interleaved), buyers)


# --------------------------------------------------------------------------- payments


def _rest(cast: Cast) -> Payment:
    async def pay(http: HttpConnection, index: int) -> bool:
        order = {"out_trade_no": uuid.uuid4().hex, "amount": AMOUNT, "subject": "bench",
                 "auth_code": cast.book.code()}  # fmt: skip
        headers = {"Authorization": f"Bearer {cast.tills[index].secret_key}"}
        status, trade = await http.request("POST", "/v1/acquiring/payment-code", order, headers)
        return status == 200 and trade["state"] == "TRADE_SUCCESS"

    return pay


def signed_request(till: Till, biz: dict[str, Any]) -> tuple[str, bytes]:
    """(path with the common parameters and sign, form body with biz_content), as Ant's
    official SDK builds an `execute` call."""
    common = {
        "app_id": till.app_id,
        "method": METHOD,
        "charset": "utf-8",
        "format": "json",
        "sign_type": "RSA2",
        "timestamp": _clock.now().strftime("%Y-%m-%d %H:%M:%S"),
        "version": "1.0",
    }
    content = json.dumps(biz, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    text = canonical_string({**common, "biz_content": content}).encode("utf-8")
    common["sign"] = sign(text, till.app_key)
    return f"/gateway.do?{urlencode(common)}", urlencode({"biz_content": content}).encode()


def answer_code(raw: bytes, platform_key: rsa.RSAPublicKey) -> str | None:
    """The `code` of a verified alipay.trade.pay answer; None if it does not verify."""
    cut = raw.rfind(SIGN_FIELD)
    if not raw.startswith(NODE) or cut < 0:
        return None
    node, signature = raw[len(NODE) : cut], raw[cut + len(SIGN_FIELD) : -2].decode()
    if not verify(node, signature, platform_key, "RSA2"):
        return None
    code: str = json.loads(node)["code"]
    return code


def _gateway(cast: Cast, cost: SigningCost) -> Payment:
    amount = format_decimal(AMOUNT, "CNY")

    async def pay(http: HttpConnection, index: int) -> bool:
        biz = {"out_trade_no": uuid.uuid4().hex, "scene": "bar_code", "subject": "bench",
               "auth_code": cast.book.code(), "total_amount": amount}  # fmt: skip
        started = time.thread_time()
        path, body = signed_request(cast.tills[index], biz)
        signed = time.thread_time()
        status, raw = await http.send("POST", path, body, FORM)
        checked = time.thread_time()
        code = answer_code(raw, cast.platform_key)
        cost.sign_s += signed - started
        cost.verify_s += time.thread_time() - checked
        cost.calls += 1
        return status == 200 and code == "10000"

    return pay


# --------------------------------------------------------------------------- the run


async def _run(port: int, cast: Cast, api: str, clients: int, seconds: float) -> dict[str, Any]:
    """A warm-up (not counted), then `seconds` of payments through one API."""

    def payment(cost: SigningCost) -> Payment:
        return _rest(cast) if api == "rest" else _gateway(cast, cost)

    await drive(port, Level(clients, clients, 0, 0, WARMUP_SECONDS, []), payment(SigningCost()))
    cost = SigningCost()
    level = await drive(port, Level(clients, clients, 0, 0, seconds, []), payment(cost))
    row = {"api": api, **level.row()}
    if api == "gateway":
        row |= cost.row()
    return row


def run_gateway_bench(
    database_url: str | None,
    data_dir: Path | None,
    *,
    clients: int = CLIENTS,
    seconds: float = 10.0,
) -> dict[str, Any]:
    work_dir = Path(tempfile.mkdtemp(prefix="zhifu-bench-gateway-"))
    server_url = database_url or start_embedded(data_dir or work_dir)
    bench_url = fresh_database(server_url)

    async def prepare() -> Cast:
        runtime = await Runtime.start(
            Settings(db=DatabaseSettings(database_url=bench_url, data_dir=work_dir))
        )
        try:
            return await _cast(runtime, clients, devices_needed(seconds, clients))
        finally:
            await runtime.close()

    cast = asyncio.run(prepare())
    load_average = os.getloadavg()
    server = Server(bench_url, work_dir)
    try:
        server.wait_ready()
        rest, gateway = [
            asyncio.run(_run(server.port, cast, api, clients, seconds))
            for api in ("rest", "gateway")
        ]
    finally:
        server.stop()
    ratio = gateway["payments_per_s"] / rest["payments_per_s"] if rest["payments_per_s"] else 0.0
    return {
        "server": "external" if database_url else "embedded",
        "clients": clients,
        "seconds": seconds,
        "load_average_at_start": [round(x, 2) for x in load_average],
        "buyers": cast.buyers,
        "devices": len(cast.book.devices),
        "levels": [rest, gateway],
        "gateway_vs_rest": round(ratio, 3),
        "target_gateway_vs_rest": TARGET_GATEWAY_VS_REST,
        "ledger_verified": asyncio.run(verify_ledger(bench_url, work_dir)),
    }
