"""Users, sessions, PINs, KYC and cards over HTTP: every refusal a problem+json with a
stable code."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.identity.support import PASSWORD, PIN, Member, member, random_phone
from zhifu.api.app import create_app
from zhifu.identity.users import LOGIN_RATE
from zhifu.runtime import Runtime

VISA = "4111111111111111"


def refused(response: httpx.Response, status: int, code: str) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, object] = response.json()
    assert body["code"] == code, body
    return body


async def test_sign_up_sign_in_and_profile(client: httpx.AsyncClient, runtime: Runtime) -> None:
    phone = random_phone()
    created = await client.post("/v1/users", json={"phone": phone, "password": PASSWORD})
    assert created.status_code == 201
    user = created.json()
    assert (user["phone"], user["kyc_tier"], user["has_pin"]) == ("+86" + phone, 0, False)
    assert "password" not in str(user)

    session = await client.post("/v1/sessions", json={"phone": phone, "password": PASSWORD})
    assert session.status_code == 201
    assert session.json()["token_type"] == "Bearer"
    headers = {"Authorization": f"Bearer {session.json()['token']}"}
    me = (await client.get("/v1/me", headers=headers)).json()
    assert me["id"] == user["id"]
    assert me["limits"]["single_payment_decimal"] == "500.00"
    assert me["balances"][0] == {
        "currency": "CNY",
        "posted": 0,
        "posted_decimal": "0.00",
        "available": 0,
        "available_decimal": "0.00",
        "pending_out": 0,
        "pending_out_decimal": "0.00",
        "pending_in": 0,
        "pending_in_decimal": "0.00",
    }

    assert (await client.delete("/v1/sessions/current", headers=headers)).status_code == 204
    refused(await client.get("/v1/me", headers=headers), 401, "unauthorized")


async def test_sign_up_refusals(client: httpx.AsyncClient) -> None:
    phone = random_phone()
    body = {"phone": phone, "password": PASSWORD}
    assert (await client.post("/v1/users", json=body)).status_code == 201
    refused(await client.post("/v1/users", json=body), 409, "phone_taken")
    short = {"phone": random_phone(), "password": "short"}
    refused(await client.post("/v1/users", json=short), 422, "weak_password")
    bad_phone = {"phone": "12345", "password": PASSWORD}
    refused(await client.post("/v1/users", json=bad_phone), 422, "invalid_phone")
    extra = {**body, "phone": random_phone(), "kyc_tier": 3}
    refused(await client.post("/v1/users", json=extra), 422, "invalid_request")
    numeric = {"phone": 13912345678, "password": PASSWORD}
    refused(await client.post("/v1/users", json=numeric), 422, "invalid_request")
    malformed = await client.post(
        "/v1/users", content=b'{"phone": ', headers={"Content-Type": "application/json"}
    )
    refused(malformed, 400, "malformed_json")


async def test_sign_up_idempotency_key(client: httpx.AsyncClient) -> None:
    headers = {"Idempotency-Key": str(uuid.uuid4())}
    body = {"phone": random_phone(), "password": PASSWORD}
    first = await client.post("/v1/users", json=body, headers=headers)
    again = await client.post("/v1/users", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    other = {"phone": random_phone(), "password": PASSWORD}
    refused(
        await client.post("/v1/users", json=other, headers=headers), 409, "idempotency_key_reused"
    )


async def test_a_sandbox_user_holds_sandbox_money(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    body = {"phone": random_phone(), "password": PASSWORD, "sandbox": True}
    created = await client.post("/v1/users", json=body)
    assert created.status_code == 201 and created.json()["sandbox"] is True
    wallet = await runtime.users.wallet(created.json()["id"])
    row = await runtime.db.fetch_one("select book from ledger_account where id = %s", (wallet,))
    assert row == {"book": "sandbox"}
    not_a_flag = {**body, "phone": random_phone(), "sandbox": "yes"}
    refused(await client.post("/v1/users", json=not_a_flag), 422, "invalid_request")


async def test_sign_in_and_bearer_refusals(client: httpx.AsyncClient) -> None:
    phone = random_phone()
    await client.post("/v1/users", json={"phone": phone, "password": PASSWORD})
    wrong_password = {"phone": phone, "password": "not the password"}
    unknown_phone = {"phone": random_phone(), "password": PASSWORD}
    first = refused(await client.post("/v1/sessions", json=wrong_password), 401, "unauthorized")
    second = refused(await client.post("/v1/sessions", json=unknown_phone), 401, "unauthorized")
    assert first["detail"] == second["detail"]
    for headers in (
        {},
        {"Authorization": "Bearer made-up"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer"},
    ):
        response = await client.get("/v1/me", headers=headers)
        refused(response, 401, "unauthorized")
        assert response.headers["www-authenticate"] == "Bearer"


async def test_pin_rules(client: httpx.AsyncClient, runtime: Runtime) -> None:
    alice = await member(client, runtime, tier=0)
    change = {"pin": "246810"}
    refused(
        await client.put("/v1/me/pin", json=change, headers=alice.headers),
        403,
        "current_pin_required",
    )
    wrong = {**change, "current_pin": "135790"}
    body = refused(
        await client.put("/v1/me/pin", json=wrong, headers=alice.headers), 403, "incorrect_pin"
    )
    assert body["attempts_left"] == 4
    right = {**change, "current_pin": PIN}
    assert (await client.put("/v1/me/pin", json=right, headers=alice.headers)).status_code == 204
    for weak in ("111111", "12345", "abcdef"):
        refused(
            await client.put(
                "/v1/me/pin", json={"pin": weak, "current_pin": "246810"}, headers=alice.headers
            ),
            422,
            "invalid_pin",
        )
    assert (await client.get("/v1/me", headers=alice.headers)).json()["has_pin"] is True


async def test_sign_in_locks_the_phone_and_limits_the_address(runtime: Runtime) -> None:
    app = create_app(runtime)
    here = (f"203.0.113.{uuid.uuid4().int % 250}", 4321)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=here)
    async with httpx.AsyncClient(transport=transport, base_url="http://zhifu.test") as http:
        phone = random_phone()
        await http.post("/v1/users", json={"phone": phone, "password": PASSWORD})
        wrong = {"phone": phone, "password": "not-the-password"}
        for _ in range(4):
            refused(await http.post("/v1/sessions", json=wrong), 401, "unauthorized")
        locked = await http.post("/v1/sessions", json=wrong)
        refused(locked, 423, "login_locked")
        assert locked.headers["Retry-After"] == "60"
        right = {"phone": phone, "password": PASSWORD}
        refused(await http.post("/v1/sessions", json=right), 423, "login_locked")
        for _ in range(LOGIN_RATE.limit - 6):
            stranger = {"phone": random_phone(), "password": "not-the-password"}
            refused(await http.post("/v1/sessions", json=stranger), 401, "unauthorized")
        limited = await http.post("/v1/sessions", json=stranger)
        refused(limited, 429, "rate_limited")
        assert int(limited.headers["Retry-After"]) > 0


async def test_a_user_asks_for_a_tier_and_an_operator_decides(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    alice = await member(client, runtime, tier=0)
    key = {**alice.headers, "Idempotency-Key": uuid.uuid4().hex}
    asked = await client.post("/v1/me/kyc", json={"tier": 3}, headers=key)
    assert asked.status_code == 202, asked.text
    request = asked.json()
    assert (request["tier"], request["status"]) == (3, "pending")
    assert (await client.post("/v1/me/kyc", json={"tier": 3}, headers=key)).json() == request
    again = {**alice.headers, "Idempotency-Key": uuid.uuid4().hex}
    refused(
        await client.post("/v1/me/kyc", json={"tier": 2}, headers=again), 409, "kyc_request_pending"
    )
    status = (await client.get("/v1/me/kyc", headers=alice.headers)).json()
    assert (status["kyc_tier"], status["request"]) == (0, request)  # not raised by asking
    assert (await client.get("/v1/me", headers=alice.headers)).json()["kyc_tier"] == 0
    await runtime.kyc.run_checks()  # the simulated check leaves tier 3 to an operator
    await runtime.kyc.approve(request["id"], by="test operator")
    status = (await client.get("/v1/me/kyc", headers=alice.headers)).json()
    assert (status["kyc_tier"], status["request"]["status"]) == (3, "approved")
    assert status["limits"]["balance_cap"] is None
    refused(
        await client.post("/v1/me/kyc", json={"tier": 3}, headers=again), 422, "kyc_tier_not_higher"
    )


async def test_kyc_requests_refuse_bad_tiers_and_need_a_key(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    alice = await member(client, runtime, tier=0)
    key = {**alice.headers, "Idempotency-Key": uuid.uuid4().hex}
    for tier in (4, -1, "2", 1.0):
        refused(
            await client.post("/v1/me/kyc", json={"tier": tier}, headers=key),
            422,
            "invalid_request",
        )
    missing = await client.post("/v1/me/kyc", json={"tier": 1}, headers=alice.headers)
    refused(missing, 400, "idempotency_key_required")


async def link(client: httpx.AsyncClient, owner: Member, **body: object) -> httpx.Response:
    return await client.post("/v1/cards", json=body, headers=owner.headers)


async def test_cards(client: httpx.AsyncClient, runtime: Runtime) -> None:
    alice = await member(client, runtime, tier=0)
    linked = await link(
        client, alice, number="4111 1111 1111 1111", holder_name="Alice", bank="ICBC"
    )
    assert linked.status_code == 201
    card = linked.json()
    assert (card["brand"], card["last4"], card["status"]) == ("visa", "1111", "active")
    assert VISA not in linked.text
    row = await runtime.db.fetch_one("select * from bank_card where id = %s", (card["id"],))
    assert row is not None and VISA not in " ".join(str(v) for v in row.values())

    refused(await link(client, alice, number=VISA), 409, "card_already_linked")
    refused(await link(client, alice, number="4111111111111112"), 422, "invalid_card_number")
    refused(await link(client, alice, number="41111111"), 422, "invalid_card_number")
    refused(await link(client, alice, number="12", kind="account"), 422, "invalid_card_number")
    refused(await link(client, alice, number=VISA, kind="crypto"), 422, "invalid_request")
    refused(await link(client, alice, number=VISA, cvv="123"), 422, "invalid_request")
    account = await link(client, alice, number="DE89370400440532013000", kind="account")
    assert account.json()["brand"] == "bank_account"

    listed = (await client.get("/v1/cards", headers=alice.headers)).json()["cards"]
    assert [c["id"] for c in listed] == [card["id"], account.json()["id"]]
    mine = await client.get(f"/v1/cards/{card['id']}", headers=alice.headers)
    assert mine.json() == card
    deleted = await client.delete(f"/v1/cards/{card['id']}", headers=alice.headers)
    assert deleted.status_code == 204
    refused(await client.delete(f"/v1/cards/{card['id']}", headers=alice.headers), 404, "not_found")
    assert len((await client.get("/v1/cards", headers=alice.headers)).json()["cards"]) == 1


async def test_someone_elses_card_is_not_found(client: httpx.AsyncClient, runtime: Runtime) -> None:
    alice = await member(client, runtime, tier=0)
    eve = await member(client, runtime, tier=0)
    card = (await link(client, alice, number="5555555555554444")).json()
    for request in (client.get, client.delete):
        refused(await request(f"/v1/cards/{card['id']}", headers=eve.headers), 404, "not_found")
    refused(await client.get("/v1/cards/99999999999", headers=eve.headers), 404, "not_found")
    for bad in ("0", "abc", str(2**63), "-1"):
        refused(await client.get(f"/v1/cards/{bad}", headers=eve.headers), 422, "invalid_request")
    assert (await client.get(f"/v1/cards/{card['id']}", headers=alice.headers)).status_code == 200


async def test_card_link_idempotency_key(client: httpx.AsyncClient, runtime: Runtime) -> None:
    alice = await member(client, runtime, tier=0)
    headers = {**alice.headers, "Idempotency-Key": str(uuid.uuid4())}
    body = {"number": "6011111111111117"}
    first = await client.post("/v1/cards", json=body, headers=headers)
    again = await client.post("/v1/cards", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    other = {"number": "3530111333300000"}
    refused(
        await client.post("/v1/cards", json=other, headers=headers), 409, "idempotency_key_reused"
    )


@pytest.mark.parametrize("path", ["/v1/me", "/v1/cards", "/v1/balance", "/v1/statement"])
async def test_everything_needs_a_session(client: httpx.AsyncClient, path: str) -> None:
    refused(await client.get(path), 401, "unauthorized")
