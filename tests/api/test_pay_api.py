"""Every way to pay over HTTP, from the merchant's terminal to the consumer's app: the
merchant's QR code (dynamic and static), the consumer's payment code, and tap-to-pay."""

from __future__ import annotations

import dataclasses
import io
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
import zxingcpp
from PIL import Image

from tests.identity.support import PIN, Member, fund, member
from zhifu.clock import Clock, ManualClock
from zhifu.payments.acquiring import MerchantQr, TapRequest, new_device_key, sign_tap
from zhifu.runtime import Runtime

ALLOWANCE = 20_000  # the default password-free amount of one payment, 200.00


@dataclass(frozen=True)
class Till:
    """A merchant's store and terminal, and the merchant's secret-key headers."""

    merchant_id: int
    name: str
    headers: dict[str, str]
    store_id: int
    terminal_id: int


async def till(runtime: Runtime, name: str | None = None) -> Till:
    merchants = runtime.payments.merchants
    merchant, key = await merchants.create(name or f"Tea House {uuid.uuid4().hex[:6]}")
    store = await merchants.add_store(merchant.id, "Nanjing Road")
    terminal = await merchants.add_terminal(merchant.id, store["id"], "till 1")
    headers = {"Authorization": f"Bearer {key.secret_key}"}
    return Till(merchant.id, merchant.name, headers, store["id"], terminal["id"])


def order(amount: int, **more: Any) -> dict[str, Any]:
    return {"out_trade_no": uuid.uuid4().hex, "amount": amount, "subject": "jasmine tea", **more}


def refused(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["code"] == code, body
    return body


async def available(client: httpx.AsyncClient, who: Member) -> int:
    balance: int = (await client.get("/v1/balance", headers=who.headers)).json()["available"]
    return balance


async def ledger_ok(runtime: Runtime) -> None:
    report = await runtime.ledger.verify()
    assert report.ok, report.breaches


async def pending_settlement(runtime: Runtime, shop: Till) -> int:
    balances = await runtime.payments.merchants.balances(shop.merchant_id)
    amount: int = balances["pending_settlement"]
    return amount


async def current_code(client: httpx.AsyncClient, who: Member) -> str:
    response = await client.get("/v1/payment-code", headers=who.headers)
    assert response.status_code == 200, response.text
    code: str = response.json()["code"]
    return code


async def submit_code(
    client: httpx.AsyncClient, shop: Till, code: str, amount: int, **more: Any
) -> httpx.Response:
    body = order(amount, auth_code=code, terminal_id=shop.terminal_id, **more)
    return await client.post("/v1/acquiring/payment-code", json=body, headers=shop.headers)


async def scan(client: httpx.AsyncClient, who: Member, payload: str) -> httpx.Response:
    return await client.post("/v1/scan", json={"payload": payload}, headers=who.headers)


def decode(png: bytes) -> list[str]:
    return [result.text for result in zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))]


# Merchant-presented QR: dynamic.


async def precreate(client: httpx.AsyncClient, shop: Till, amount: int) -> dict[str, Any]:
    response = await client.post(
        "/v1/acquiring/precreate", json=order(amount, store_id=shop.store_id), headers=shop.headers
    )
    assert response.status_code == 201, response.text
    made: dict[str, Any] = response.json()
    return made


async def test_dynamic_qr_scanned_and_paid_without_pin(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    shop = await till(runtime)
    alice = await member(client, runtime, balance=50_000)
    made = await precreate(client, shop, 1_250)
    trade_no = made["trade"]["trade_no"]
    assert made["trade"]["state"] == "WAIT_BUYER_PAY"
    assert MerchantQr.parse(made["qr_payload"]).trade_ref == trade_no

    png = await client.get(made["qr_png_url"], headers=shop.headers)
    assert png.headers["content-type"] == "image/png"
    assert decode(png.content) == [made["qr_payload"]]
    svg = await client.get(made["qr_svg_url"], headers=shop.headers)
    assert svg.headers["content-type"] == "image/svg+xml" and svg.text.startswith("<svg")

    scanned = await scan(client, alice, made["qr_payload"])
    assert scanned.status_code == 200, scanned.text
    seen = scanned.json()
    assert (seen["kind"], seen["trade_no"], seen["amount"], seen["subject"]) == (
        "dynamic",
        trade_no,
        1_250,
        "jasmine tea",
    )
    assert seen["merchant"] == {"id": shop.merchant_id, "name": shop.name, "city": "Shanghai"}
    assert (await client.get(f"/v1/trades/{trade_no}", headers=alice.headers)).status_code == 200

    paid = await client.post(f"/v1/trades/{trade_no}/pay", headers=alice.headers)
    assert paid.status_code == 200, paid.text
    body = paid.json()
    assert (body["state"], body["method"], body["password_free"]) == ("TRADE_SUCCESS", "qr", True)
    assert "fee" not in body and body["merchant"]["id"] == shop.merchant_id
    assert await available(client, alice) == 50_000 - 1_250
    assert await pending_settlement(runtime, shop) == 1_250 - 8  # 0.6% fee, rounded
    await ledger_ok(runtime)


async def test_dynamic_qr_above_the_allowance_needs_the_pin(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    shop = await till(runtime)
    alice = await member(client, runtime, balance=100_000)
    bob = await member(client, runtime, balance=100_000)
    trade_no = (await precreate(client, shop, ALLOWANCE + 1))["trade"]["trade_no"]
    pay = f"/v1/trades/{trade_no}/pay"

    refused(await client.post(pay, headers=alice.headers), 403, "pin_required")
    refused(
        await client.post(pay, json={"pin": "000001"}, headers=alice.headers), 403, "incorrect_pin"
    )
    paid = await client.post(pay, json={"pin": PIN}, headers=alice.headers)
    assert paid.status_code == 200, paid.text
    assert (paid.json()["state"], paid.json()["password_free"]) == ("TRADE_SUCCESS", False)

    again = await client.post(pay, json={"pin": PIN}, headers=alice.headers)
    assert again.json() == paid.json()  # the trade number is the idempotency key
    refused(
        await client.post(pay, json={"pin": PIN}, headers=bob.headers), 409, "trade_already_paid"
    )
    refused(await client.get(f"/v1/trades/{trade_no}", headers=bob.headers), 404, "trade_not_found")
    assert await available(client, alice) == 100_000 - ALLOWANCE - 1
    assert await available(client, bob) == 100_000
    mine = (await client.get("/v1/trades", headers=alice.headers)).json()["trades"]
    assert [t["trade_no"] for t in mine] == [trade_no]
    assert (await client.get("/v1/trades", headers=bob.headers)).json()["trades"] == []
    await ledger_ok(runtime)


async def test_a_merchant_sees_only_its_own_trade_qr(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    shop, rival = await till(runtime), await till(runtime)
    made = await precreate(client, shop, 500)
    for url in (made["qr_png_url"], made["qr_svg_url"]):
        refused(await client.get(url, headers=rival.headers), 404, "trade_not_found")
        refused(await client.get(url), 401, "unauthorized")
        bad = {"Authorization": "Bearer sk_nope_nope"}
        refused(await client.get(url, headers=bad), 401, "unauthorized")
    other_store = order(500, store_id=rival.store_id)
    refused(
        await client.post("/v1/acquiring/precreate", json=other_store, headers=shop.headers),
        404,
        "not_found",
    )


# Merchant-presented QR: a store's static code.


async def test_static_qr_with_typed_amount_and_idempotent_retry(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    shop = await till(runtime)
    alice = await member(client, runtime, balance=50_000)
    code = await client.get(f"/v1/acquiring/stores/{shop.store_id}/qr", headers=shop.headers)
    assert code.status_code == 200, code.text
    payload = code.json()["qr_payload"]
    png = await client.get(code.json()["qr_png_url"], headers=shop.headers)
    assert decode(png.content) == [payload]

    scanned = (await scan(client, alice, payload)).json()
    assert (scanned["kind"], scanned["amount"], scanned["trade_no"]) == ("static", None, None)
    assert (scanned["store_id"], scanned["store_name"]) == (shop.store_id, "Nanjing Road")

    key = {"Idempotency-Key": str(uuid.uuid4()), **alice.headers}
    body = {"payload": payload, "amount": 888}
    first = await client.post("/v1/scan/pay", json=body, headers=key)
    assert first.status_code == 200, first.text
    assert (first.json()["state"], first.json()["method"]) == ("TRADE_SUCCESS", "static_qr")
    retry = await client.post("/v1/scan/pay", json=body, headers=key)
    assert retry.json()["trade_no"] == first.json()["trade_no"]
    assert await available(client, alice) == 50_000 - 888

    changed = {"payload": payload, "amount": 889}
    refused(
        await client.post("/v1/scan/pay", json=changed, headers=key), 409, "idempotency_key_reused"
    )
    refused(
        await client.post("/v1/scan/pay", json=body, headers=alice.headers),
        400,
        "idempotency_key_required",
    )
    await ledger_ok(runtime)


async def test_static_qr_above_the_allowance_takes_the_pin(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    shop = await till(runtime)
    alice = await member(client, runtime, balance=50_000)
    payload = (
        await client.get(f"/v1/acquiring/stores/{shop.store_id}/qr", headers=shop.headers)
    ).json()["qr_payload"]
    key = {"Idempotency-Key": str(uuid.uuid4()), **alice.headers}
    body: dict[str, Any] = {"payload": payload, "amount": ALLOWANCE + 100}
    refused(await client.post("/v1/scan/pay", json=body, headers=key), 403, "pin_required")
    assert (await client.get("/v1/trades", headers=alice.headers)).json()["trades"] == []
    paid = await client.post("/v1/scan/pay", json={**body, "pin": PIN}, headers=key)
    assert paid.status_code == 200, paid.text
    assert await available(client, alice) == 50_000 - ALLOWANCE - 100
    await ledger_ok(runtime)


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        ("hello", 422, "invalid_qr"),
        ("000201010211" + "6304ABCD", 422, "invalid_qr"),
        ("", 422, "invalid_request"),
        ("x" * 513, 422, "invalid_request"),
    ],
)
async def test_malformed_scans_are_refused(
    client: httpx.AsyncClient, runtime: Runtime, payload: str, status: int, code: str
) -> None:
    alice = await member(client, runtime)
    refused(await scan(client, alice, payload), status, code)


async def test_altered_or_foreign_codes_are_refused(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    shop = await till(runtime)
    alice = await member(client, runtime, balance=10_000)
    made = await precreate(client, shop, 1_000)
    payload = made["qr_payload"]
    damaged = payload.replace("540510.00", "540590.00")  # the amount, CRC unchanged
    assert damaged != payload
    refused(await scan(client, alice, damaged), 422, "invalid_qr")

    # A well-formed code whose amount differs from its trade's: re-encoded, so the CRC holds.
    forged = dataclasses.replace(MerchantQr.parse(payload), amount=1).encode()
    refused(await scan(client, alice, forged), 422, "invalid_qr")
    nobody = MerchantQr(
        merchant_name="Ghost", merchant_city="Nowhere", merchant_category_code="5812",
        merchant_ref="999999999",
    ).encode()  # fmt: skip
    refused(await scan(client, alice, nobody), 422, "invalid_qr")
    key = {"Idempotency-Key": "k1", **alice.headers}
    dynamic = {"payload": payload, "amount": 1_000}
    refused(await client.post("/v1/scan/pay", json=dynamic, headers=key), 422, "invalid_qr")
    extra = {"payload": payload, "tip": 1}
    refused(
        await client.post("/v1/scan", json=extra, headers=alice.headers), 422, "invalid_request"
    )
    refused(await client.post("/v1/scan", json={"payload": payload}), 401, "unauthorized")


# The consumer's payment code.


async def test_payment_code_within_the_allowance_pays_at_once(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    shop = await till(runtime)
    alice = await member(client, runtime, balance=50_000)
    code = await current_code(client, alice)
    assert len(code) == 18 and code[:2] in {"25", "26", "27", "28", "29", "30"}
    first = order(1_999, auth_code=code, terminal_id=shop.terminal_id)
    paid = await client.post("/v1/acquiring/payment-code", json=first, headers=shop.headers)
    assert paid.status_code == 200, paid.text
    trade = paid.json()
    assert (trade["state"], trade["method"], trade["buyer_user_id"]) == (
        "TRADE_SUCCESS",
        "payment_code",
        alice.user_id,
    )
    assert (trade["store_id"], trade["terminal_id"]) == (shop.store_id, shop.terminal_id)

    retry = await client.post("/v1/acquiring/payment-code", json=first, headers=shop.headers)
    assert (retry.status_code, retry.json()["trade_no"]) == (200, trade["trade_no"])
    refused(await submit_code(client, shop, code, 100), 409, "payment_code_used")
    assert await current_code(client, alice) != code  # the app moves to a fresh code
    assert await available(client, alice) == 50_000 - 1_999
    await ledger_ok(runtime)


async def test_payment_code_above_the_allowance_waits_for_the_pin(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    shop = await till(runtime)
    alice = await member(client, runtime, balance=100_000)
    code = await current_code(client, alice)
    waiting = await submit_code(client, shop, code, 30_000)
    assert waiting.status_code == 202, waiting.text
    trade_no = waiting.json()["trade_no"]
    assert waiting.json()["state"] == "WAIT_BUYER_PAY"
    refused(await submit_code(client, shop, code, 100), 409, "payment_code_used")

    pending = (await client.get("/v1/trades/pending", headers=alice.headers)).json()["trades"]
    assert [(t["trade_no"], t["amount"]) for t in pending] == [(trade_no, 30_000)]
    assert pending[0]["merchant"]["name"] == shop.name
    pay = f"/v1/trades/{trade_no}/pay"
    refused(await client.post(pay, headers=alice.headers), 403, "pin_required")
    confirmed = await client.post(pay, json={"pin": PIN}, headers=alice.headers)
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["state"] == "TRADE_SUCCESS"
    assert (await client.get("/v1/trades/pending", headers=alice.headers)).json()["trades"] == []
    merchant_view = await runtime.payments.trades.get(shop.merchant_id, trade_no=trade_no)
    assert merchant_view.state == "TRADE_SUCCESS"
    assert await available(client, alice) == 70_000
    await ledger_ok(runtime)


async def test_payment_code_refused_for_funds_is_not_spent(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    shop = await till(runtime)
    alice = await member(client, runtime, balance=500)
    code = await current_code(client, alice)
    attempt = order(1_000, auth_code=code)
    first = await client.post("/v1/acquiring/payment-code", json=attempt, headers=shop.headers)
    refused(first, 402, "insufficient_funds")
    await fund(runtime.db, runtime.ledger, await runtime.users.wallet(alice.user_id), 1_000)
    again = await client.post("/v1/acquiring/payment-code", json=attempt, headers=shop.headers)
    assert again.status_code == 200, again.text
    assert await available(client, alice) == 500
    await ledger_ok(runtime)


@pytest.mark.parametrize(
    ("auth_code", "status", "code"),
    [
        ("123", 422, "invalid_payment_code"),
        ("251234567890123456", 422, "invalid_payment_code"),
        ("x" * 33, 422, "invalid_request"),
    ],
)
async def test_bad_payment_codes_are_refused(
    client: httpx.AsyncClient, runtime: Runtime, auth_code: str, status: int, code: str
) -> None:
    shop = await till(runtime)
    refused(await submit_code(client, shop, auth_code, 100), status, code)


async def test_payment_code_requests_are_checked(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    shop, rival = await till(runtime), await till(runtime)
    alice = await member(client, runtime, balance=10_000)
    code = await current_code(client, alice)
    url = "/v1/acquiring/payment-code"
    cases: list[tuple[dict[str, Any], dict[str, str], int, str]] = [
        (order(100, auth_code=code), {}, 401, "unauthorized"),
        (order(100, auth_code=code), {"Authorization": "Bearer sk_a_b"}, 401, "unauthorized"),
        (order(1.5, auth_code=code), shop.headers, 422, "invalid_amount"),
        (order("100", auth_code=code), shop.headers, 422, "invalid_amount"),
        (order(100, auth_code=code, currency="XXX"), shop.headers, 422, "unknown_currency"),
        (order(100, auth_code=code, pin=PIN), shop.headers, 422, "invalid_request"),
        (order(100, auth_code=code, terminal_id=rival.terminal_id), shop.headers, 404, "not_found"),
        (order(100, auth_code=code, store_id=2**63), shop.headers, 422, "invalid_request"),
    ]
    for body, headers, status, error in cases:
        refused(await client.post(url, json=body, headers=headers), status, error)
    wrong_store = order(100, auth_code=code, terminal_id=shop.terminal_id, store_id=rival.store_id)
    refused(await client.post(url, json=wrong_store, headers=shop.headers), 422, "invalid_request")
    # None of these spent the code.
    assert (await submit_code(client, shop, code, 100)).status_code == 200


# Devices.


async def test_devices_register_list_and_revoke(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    shop = await till(runtime)
    alice, bob = await member(client, runtime, balance=10_000), await member(client, runtime)
    _, public_pem = new_device_key()
    made = await client.post(
        "/v1/devices", json={"name": "Pixel", "tap_public_key": public_pem}, headers=alice.headers
    )
    assert made.status_code == 201, made.text
    device = made.json()
    assert device["tap_enabled"] and device["tap_token"].startswith("tap_")
    assert len(device["code_secret"]) == 44  # 32 bytes, base64
    listed = (await client.get("/v1/devices", headers=alice.headers)).json()["devices"]
    assert [d["id"] for d in listed] == [device["id"]] and "code_secret" not in listed[0]

    code = await current_code(client, alice)  # from the newest device, this one
    refused(
        await client.delete(f"/v1/devices/{device['id']}", headers=bob.headers), 404, "not_found"
    )
    gone = await client.delete(f"/v1/devices/{device['id']}", headers=alice.headers)
    assert gone.status_code == 204
    refused(
        await client.delete(f"/v1/devices/{device['id']}", headers=alice.headers), 404, "not_found"
    )
    refused(await submit_code(client, shop, code, 100), 422, "invalid_payment_code")

    bad_key = {"name": "Old phone", "tap_public_key": "-----BEGIN PUBLIC KEY-----\nAAAA"}
    refused(
        await client.post("/v1/devices", json=bad_key, headers=alice.headers),
        422,
        "invalid_device_key",
    )
    refused(
        await client.post("/v1/devices", json={"name": ""}, headers=alice.headers),
        422,
        "invalid_request",
    )
    refused(await client.post("/v1/devices", json={"name": "x"}), 401, "unauthorized")


# Tap to pay.


@dataclass
class Phone:
    """A consumer's device registered for tap-to-pay, with its private key."""

    token: str
    private_pem: str
    clock: Clock
    counter: int = 0

    def tap(
        self, shop: Till, amount: int, sent: dict[str, Any] | None = None, *, ago: int = 0
    ) -> dict[str, Any]:
        """The terminal's request for one tap of `amount`, signed by the device `ago`
        seconds ago; `sent` replaces fields of what the terminal sends."""
        self.counter += 1
        signed = TapRequest(
            token=self.token,
            terminal_id=str(shop.terminal_id),
            amount=amount,
            currency="CNY",
            counter=self.counter,
            timestamp=self.clock.now() - timedelta(seconds=ago),
        )
        request = {
            **order(amount),
            "tap_token": self.token,
            "terminal_id": signed.terminal_id,
            "counter": signed.counter,
            "timestamp": signed.unix_time,
            "cryptogram": sign_tap(self.private_pem, signed),
        }
        return {**request, **(sent or {})}


async def phone(client: httpx.AsyncClient, runtime: Runtime, who: Member) -> Phone:
    private_pem, public_pem = new_device_key()
    made = await client.post(
        "/v1/devices", json={"name": "Watch", "tap_public_key": public_pem}, headers=who.headers
    )
    assert made.status_code == 201, made.text
    return Phone(made.json()["tap_token"], private_pem, runtime.clock)


async def test_tap_pays_and_a_replay_is_refused(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    shop = await till(runtime)
    alice = await member(client, runtime, balance=50_000)
    device = await phone(client, runtime, alice)
    request = device.tap(shop, 2_599)
    paid = await client.post("/v1/acquiring/tap", json=request, headers=shop.headers)
    assert paid.status_code == 200, paid.text
    assert (paid.json()["state"], paid.json()["method"]) == ("TRADE_SUCCESS", "tap")
    assert paid.json()["terminal_id"] == shop.terminal_id

    retry = await client.post("/v1/acquiring/tap", json=request, headers=shop.headers)
    assert retry.json()["trade_no"] == paid.json()["trade_no"]
    replay = {**request, "out_trade_no": uuid.uuid4().hex}
    refused(
        await client.post("/v1/acquiring/tap", json=replay, headers=shop.headers),
        409,
        "cryptogram_replayed",
    )
    assert await available(client, alice) == 50_000 - 2_599
    await ledger_ok(runtime)


async def test_tap_with_altered_or_misdirected_request_is_refused(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    shop, rival = await till(runtime), await till(runtime)
    alice = await member(client, runtime, balance=50_000)
    device = await phone(client, runtime, alice)
    url = "/v1/acquiring/tap"
    altered = device.tap(shop, 100, {"amount": 10_000})
    refused(await client.post(url, json=altered, headers=shop.headers), 422, "invalid_cryptogram")
    other_currency = device.tap(shop, 100, {"currency": "USD"})
    refused(
        await client.post(url, json=other_currency, headers=shop.headers), 422, "invalid_cryptogram"
    )
    # The rival merchant relays a tap made at the shop's terminal: refused.
    relayed = device.tap(shop, 100)
    refused(await client.post(url, json=relayed, headers=rival.headers), 422, "invalid_tap_request")
    unknown = device.tap(shop, 100, {"tap_token": "tap_unknown"})
    refused(await client.post(url, json=unknown, headers=shop.headers), 422, "invalid_tap_request")
    garbled = device.tap(shop, 100, {"cryptogram": "A" * 86})
    refused(await client.post(url, json=garbled, headers=shop.headers), 422, "invalid_cryptogram")
    restamped = device.tap(shop, 100, {"timestamp": int(runtime.clock.now().timestamp()) - 1})
    refused(await client.post(url, json=restamped, headers=shop.headers), 422, "invalid_cryptogram")
    stale = device.tap(shop, 100, ago=3_600)
    refused(await client.post(url, json=stale, headers=shop.headers), 422, "cryptogram_expired")
    refused(
        await client.post(url, json=device.tap(shop, 100, {"counter": -1}), headers=shop.headers),
        422,
        "invalid_request",
    )
    assert await available(client, alice) == 50_000
    await ledger_ok(runtime)


async def test_tap_above_the_allowance_waits_for_the_pin(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    shop = await till(runtime)
    alice = await member(client, runtime, balance=100_000)
    device = await phone(client, runtime, alice)
    waiting = await client.post(
        "/v1/acquiring/tap", json=device.tap(shop, 25_000), headers=shop.headers
    )
    assert waiting.status_code == 202, waiting.text
    trade_no = waiting.json()["trade_no"]
    confirmed = await client.post(
        f"/v1/trades/{trade_no}/pay", json={"pin": PIN}, headers=alice.headers
    )
    assert confirmed.json()["state"] == "TRADE_SUCCESS"
    assert await available(client, alice) == 75_000
    await ledger_ok(runtime)


# Time: a runtime whose clock moves only when the test moves it.


async def test_an_expired_payment_code_is_refused(
    timed: tuple[Runtime, httpx.AsyncClient],
) -> None:
    runtime, client = timed
    assert isinstance(runtime.clock, ManualClock)
    shop = await till(runtime)
    alice = await member(client, runtime, balance=10_000)
    shown = (await client.get("/v1/payment-code", headers=alice.headers)).json()
    assert 60 < shown["expires_in"] <= 120
    runtime.clock.advance(timedelta(seconds=shown["expires_in"] + 1))
    refused(await submit_code(client, shop, shown["code"], 100), 422, "payment_code_expired")
    fresh = await current_code(client, alice)
    assert (await submit_code(client, shop, fresh, 100)).status_code == 200
    await ledger_ok(runtime)
