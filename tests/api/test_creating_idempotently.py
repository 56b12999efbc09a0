"""Stores, terminals, API keys and payment devices created twice with one Idempotency-Key:
the second answer is the first (an API key's secret is not shown again), the same key with
another body is refused, and racing retries make one thing."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx

from tests.api.merchants import MerchantKey, new_key, ok, onboard, refused
from tests.identity.support import member
from zhifu.runtime import Runtime

Post = Callable[[str], Any]  # an idempotency key -> the awaitable response


async def twice_then_racing(post: Post, count: Callable[[], Any]) -> list[dict[str, Any]]:
    """The same key twice in a row, then one key sent six times at once: each key made
    exactly one thing. Returns the two answers of the first key."""
    before = await count()
    key = new_key()
    answers = [ok(await post(key), 201) for _ in range(2)]
    racing = new_key()
    raced = [
        ok(response, 201) for response in await asyncio.gather(*(post(racing) for _ in range(6)))
    ]
    assert len({answer["id"] for answer in raced}) == 1
    assert await count() == before + 2
    return answers


async def test_a_store_made_twice_with_one_key_is_one_store(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    shop = await onboard(runtime)

    def post(key: str, name: str = "Nanjing Road") -> Any:
        headers = shop.with_key(key)
        return client.post("/v1/merchant/stores", json={"name": name}, headers=headers)

    first, again = await twice_then_racing(post, lambda: stores(client, shop))
    assert again == first
    key = new_key()
    ok(await post(key), 201)
    refused(await post(key, name="Huaihai Road"), 409, "idempotency_key_reused")


async def test_a_terminal_made_twice_with_one_key_is_one_terminal(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    shop = await onboard(runtime)
    store = ok(
        await client.post("/v1/merchant/stores", json={"name": "Bund"}, headers=shop.headers), 201
    )
    url = f"/v1/merchant/stores/{store['id']}/terminals"

    def post(key: str, label: str = "Till 1") -> Any:
        return client.post(url, json={"label": label}, headers=shop.with_key(key))

    async def terminals() -> int:
        return sum(len(s["terminals"]) for s in await listed_stores(client, shop))

    first, again = await twice_then_racing(post, terminals)
    assert again == first
    key = new_key()
    ok(await post(key), 201)
    refused(await post(key, label="Till 2"), 409, "idempotency_key_reused")


async def test_an_api_key_made_twice_with_one_key_is_one_key_its_secret_shown_once(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    shop = await onboard(runtime)

    def post(key: str) -> Any:
        return client.post("/v1/merchant/api-keys", headers=shop.with_key(key))

    async def live_keys() -> int:
        keys = ok(await client.get("/v1/merchant/api-keys", headers=shop.headers))["api_keys"]
        return sum(1 for key in keys if key["revoked_at"] is None)

    first, again = await twice_then_racing(post, live_keys)
    assert "secret_key" in first and "secret_key" not in again
    assert again == {name: value for name, value in first.items() if name != "secret_key"}
    works = {"Authorization": f"Bearer {first['secret_key']}"}
    assert ok(await client.get("/v1/merchant", headers=works))["id"] == shop.id
    # One key names one request: the key of an API key cannot then make a store.
    key = new_key()
    ok(await post(key), 201)
    refused(
        await client.post("/v1/merchant/stores", json={"name": "Bund"}, headers=shop.with_key(key)),
        409,
        "idempotency_key_reused",
    )


async def test_a_device_registered_twice_with_one_key_is_one_device(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    alice = await member(client, runtime)

    def post(key: str, name: str = "Pixel") -> Any:
        headers = {**alice.headers, "Idempotency-Key": key}
        return client.post("/v1/devices", json={"name": name}, headers=headers)

    async def devices() -> int:
        return len(ok(await client.get("/v1/devices", headers=alice.headers))["devices"])

    first, again = await twice_then_racing(post, devices)
    assert again == first  # the same device and payment-code secret
    key = new_key()
    ok(await post(key), 201)
    refused(await post(key, name="iPhone"), 409, "idempotency_key_reused")


async def listed_stores(client: httpx.AsyncClient, shop: MerchantKey) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = ok(await client.get("/v1/merchant/stores", headers=shop.headers))[
        "stores"
    ]
    return found


async def stores(client: httpx.AsyncClient, shop: MerchantKey) -> int:
    return len(await listed_stores(client, shop))
