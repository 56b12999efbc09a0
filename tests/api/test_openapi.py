"""The OpenAPI document says what the REST API answers: response models without the
ledger's internals, problem+json refusals, the Idempotency-Key required where it is, and
a 405 that names every method the path takes."""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.api.merchants import onboard, paid_trade, refund, refused
from tests.identity.support import member
from zhifu.runtime import Runtime

LEDGER_INTERNALS = {"hold_id", "entry_id", "account_id"}


async def test_trades_refunds_and_statements_keep_the_ledger_internals_in(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    merchant = await onboard(runtime)
    buyer = await member(client, runtime, tier=3, balance=10_000)
    trade = await paid_trade(client, merchant, buyer, 1_000)
    assert trade["trade_no"] and not LEDGER_INTERNALS & set(trade)
    made = await refund(client, merchant, trade["trade_no"], 300)
    assert made.status_code == 201, made.text
    assert made.json()["out_request_no"] and not LEDGER_INTERNALS & set(made.json())
    statement = (await client.get("/v1/statement", headers=buyer.headers)).json()
    lines = statement["lines"]  # entry_id names a movement there (a transfer's receipt)
    assert lines and all(not {"hold_id", "account_id"} & set(line) for line in lines)
    listed = await client.get("/v1/merchant/trades", headers=merchant.headers)
    assert all(not LEDGER_INTERNALS & set(t) for t in listed.json()["trades"])


async def test_a_405_is_problem_json_naming_every_method_of_the_path(
    client: httpx.AsyncClient,
) -> None:
    answer = await client.patch("/v1/cards")
    refused(answer, 405, "method_not_allowed")
    assert answer.headers["allow"] == "GET, POST"  # two routes share the path


async def test_a_missing_idempotency_key_is_still_its_own_refusal(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    buyer = await member(client, runtime)
    body = {"to_phone": "13800000000", "amount": 100, "pin": "147258"}
    answer = await client.post("/v1/transfers", json=body, headers=buyer.headers)
    refused(answer, 400, "idempotency_key_required")


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (verb.upper(), path, operation)
        for path, verbs in document["paths"].items()
        if path.startswith(("/v1/", "/healthz"))
        for verb, operation in verbs.items()
    ]


async def test_every_refusal_in_the_document_is_problem_json(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    assert "ProblemDetails" in document["components"]["schemas"]
    for verb, path, operation in operations(document):
        responses = operation["responses"]
        assert {"400", "422", "503"} <= set(responses), (verb, path)
        if operation.get("security"):
            assert "401" in responses, (verb, path)
        for status, response in responses.items():
            if int(status) >= 400:
                assert list(response["content"]) == ["application/problem+json"], (verb, path)
        success = [s for s in responses if s < "300" and "content" in responses[s]]
        for status in success:
            content = responses[status]["content"]
            if "application/json" in content:  # a declared model, not a bare object
                assert "$ref" in content["application/json"]["schema"], (verb, path)


async def test_the_idempotency_key_is_required_where_the_call_needs_one(
    client: httpx.AsyncClient,
) -> None:
    document = (await client.get("/openapi.json")).json()

    def key_required(verb: str, path: str) -> bool:
        parameters = document["paths"][path][verb.lower()].get("parameters", [])
        (key,) = [p for p in parameters if p["name"] == "Idempotency-Key"]
        return bool(key.get("required"))

    assert key_required("POST", "/v1/transfers")
    assert key_required("POST", "/v1/merchant/trades/{trade_no}/refunds")
    assert not key_required("POST", "/v1/users")  # natural keys dedupe sign-ups


async def test_every_path_answers_an_undocumented_method_with_405_and_allow(
    client: httpx.AsyncClient,
) -> None:
    document = (await client.get("/openapi.json")).json()
    for path, verbs in document["paths"].items():
        if not path.startswith("/v1/"):
            continue
        documented = {verb.upper() for verb in verbs}
        unsupported = next(m for m in ("PATCH", "PUT", "DELETE", "POST") if m not in documented)
        url = re.sub(r"\{[a-z_]+\}", "1", path)
        answer = await client.request(unsupported, url)
        refused(answer, 405, "method_not_allowed")
        assert set(answer.headers["allow"].split(", ")) == documented, path
