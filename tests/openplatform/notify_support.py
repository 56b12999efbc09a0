"""Helpers of the notify and cashier tests: a zhifu of their own (its database, so its
dispatcher delivers only their notifications; a clock they move), an independent check
of Alipay's notify signature, and fzlee's own verifier run in the SDK's venv."""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tests.conftest import create_database, drop_database, settings_for
from tests.openplatform.alipay_client import AlipayTestClient
from tests.openplatform.conftest import app_client
from tests.openplatform.test_sdk_fzlee import SDK_PYTHON
from tests.payments.conftest import Shop
from zhifu.api.app import create_app
from zhifu.clock import ManualClock
from zhifu.events import Delivery, list_deliveries
from zhifu.runtime import Runtime

BEIJING = timezone(timedelta(hours=8))
NOTIFY_CHANNEL = "alipay_notify"
SUCCESS = (200, b"success")
FZLEE_DRIVER = Path(__file__).with_name("fzlee_web_driver.py")


@dataclass
class Zhifu:
    runtime: Runtime
    clock: ManualClock
    http: httpx.AsyncClient

    @property
    def shop(self) -> Shop:
        return Shop(self.runtime)

    def timestamp(self) -> str:
        """A gateway timestamp on zhifu's clock (Beijing wall-clock time)."""
        return self.clock.now().astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S")

    async def app(self) -> tuple[AlipayTestClient, int]:
        """A new merchant's app client, and the merchant's id."""
        merchant = await self.shop.merchant()
        return await app_client(self.runtime, self.http, merchant.id), merchant.id

    async def call(
        self, alipay: AlipayTestClient, method: str, biz: dict[str, Any], **common: str
    ) -> dict[str, Any]:
        return await alipay.call(method, biz, timestamp=self.timestamp(), **common)

    async def deliver(self) -> int:
        """One round of the dispatcher, every attempt finished."""
        return await self.runtime.webhooks.deliver_due()

    async def notify_deliveries(self, merchant_id: int) -> list[Delivery]:
        async with self.runtime.db.connection() as conn:
            return await list_deliveries(conn, f"merchant:{merchant_id}", channel=NOTIFY_CHANNEL)


@asynccontextmanager
async def private_zhifu(server_url: str) -> AsyncIterator[Zhifu]:
    """zhifu on a database of its own, its clock at the real time until a test moves it
    (SDKs stamp requests with the real time). Only the runtime's pool connects to it:
    the embedded server's connections are few and the suite uses most of them."""
    url = await asyncio.to_thread(create_database, server_url)
    try:
        clock = ManualClock(datetime.now(UTC))
        settings = settings_for(url)
        runtime = await Runtime.start(settings, clock=clock, migrate=False)
        transport = httpx.ASGITransport(app=create_app(runtime), raise_app_exceptions=False)
        try:
            async with httpx.AsyncClient(transport=transport, base_url="http://zhifu.test") as http:
                yield Zhifu(runtime, clock, http)
        finally:
            await runtime.close()
    finally:
        await asyncio.to_thread(drop_database, server_url, url)


def form_fields(body: bytes) -> dict[str, str]:
    """A urlencoded body as a dict; a repeated name would be a bug, so it fails."""
    pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=True)
    fields = dict(pairs)
    assert len(fields) == len(pairs), pairs
    return fields


def verify_notify_signature(fields: dict[str, str], platform: rsa.RSAPublicKey) -> bool:
    """Alipay's notify rule, written here from the protocol notes: every field but sign
    and sign_type, sorted, `k=v` joined by `&`, RSA2 over the UTF-8 bytes."""
    text = "&".join(f"{k}={v}" for k, v in sorted(fields.items()) if k not in ("sign", "sign_type"))
    try:
        platform.verify(
            base64.b64decode(fields["sign"]), text.encode(), padding.PKCS1v15(), hashes.SHA256()
        )
    except InvalidSignature:
        return False
    return fields["sign_type"] == "RSA2"


def fzlee(job: dict[str, Any]) -> list[Any]:
    """Run fzlee_web_driver.py in the SDK's venv with this job; its results."""
    done = subprocess.run(
        [SDK_PYTHON, str(FZLEE_DRIVER)],
        input=json.dumps(job),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    results: list[Any] = json.loads(done.stdout)
    return results
