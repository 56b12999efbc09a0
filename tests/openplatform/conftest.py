"""A merchant with a registered app, and a client that speaks Alipay's protocol to it."""

from __future__ import annotations

import httpx
import pytest

from tests.openplatform.alipay_client import AlipayTestClient, new_key, spki_pem
from tests.payments.conftest import Shop
from zhifu.openplatform.signing import load_public_key
from zhifu.runtime import Runtime


@pytest.fixture
def shop(runtime: Runtime) -> Shop:
    return Shop(runtime)


async def app_client(
    runtime: Runtime, http: httpx.AsyncClient, merchant_id: int, **options: object
) -> AlipayTestClient:
    key = new_key()
    app = await runtime.openplatform.create_app(merchant_id, spki_pem(key), **options)
    platform = load_public_key(await runtime.openplatform.platform_public_key())
    return AlipayTestClient(http, app.app_id, key, platform)


@pytest.fixture
async def alipay(runtime: Runtime, client: httpx.AsyncClient, shop: Shop) -> AlipayTestClient:
    merchant = await shop.merchant()
    return await app_client(runtime, client, merchant.id)
