"""The merchant's account over the REST API: profile and balances, stores and terminals,
the settlement bank account, API keys. Every call authenticates with a secret key."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from zhifu.api.auth import CurrentMerchant
from zhifu.api.deps import OptionalIdempotencyKey, RuntimeDep
from zhifu.api.openapi import refusals
from zhifu.api.schemas.merchant import (
    ApiKeysOut,
    MerchantOut,
    MerchantProfileOut,
    NewApiKeyOut,
    NewTerminalOut,
    StoreOut,
    StoresOut,
)
from zhifu.errors import Conflict, NotFound
from zhifu.inputs import MAX_ID

router = APIRouter(prefix="/v1/merchant", tags=["merchant"], responses=refusals(NotFound, Conflict))

Id = Annotated[int, Path(gt=0, le=MAX_ID)]


class StoreRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100)


class TerminalRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label: str = Field(min_length=1, max_length=100)


class SettlementAccountRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    number: str = Field(max_length=64, description="Bank account number, tokenised")
    bank: str = Field(min_length=1, max_length=100)


def _stamp(row: dict[str, Any]) -> dict[str, Any]:
    """A database row as JSON: times in ISO 8601."""
    return {k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in row.items()}


@router.get("", response_model=MerchantProfileOut)
async def profile(
    merchant: CurrentMerchant,
    runtime: RuntimeDep,
    currency: Annotated[str, Query(min_length=3, max_length=3)] = "CNY",
) -> dict[str, Any]:
    """The merchant, its fee rate and its balances in `currency`: pending settlement
    (paid, not yet settled) and available."""
    balances = await runtime.payments.merchants.balances(merchant.id, currency)
    return {**merchant.to_dict(), "balances": balances}


@router.post("/stores", status_code=201, response_model=StoreOut)
async def add_store(
    body: StoreRequest, merchant: CurrentMerchant, runtime: RuntimeDep, key: OptionalIdempotencyKey
) -> dict[str, Any]:
    """A new store; an Idempotency-Key makes a retry answer the same store."""
    merchants = runtime.payments.merchants
    return _stamp(await merchants.add_store(merchant.id, body.name, idempotency_key=key))


@router.get("/stores", response_model=StoresOut)
async def list_stores(merchant: CurrentMerchant, runtime: RuntimeDep) -> dict[str, Any]:
    """The merchant's stores, each with its terminals."""
    stores = await runtime.payments.merchants.stores(merchant.id)
    return {
        "stores": [
            {**_stamp(store), "terminals": [_stamp(t) for t in store["terminals"]]}
            for store in stores
        ]
    }


@router.post("/stores/{store_id}/terminals", status_code=201, response_model=NewTerminalOut)
async def add_terminal(
    store_id: Id,
    body: TerminalRequest,
    merchant: CurrentMerchant,
    runtime: RuntimeDep,
    key: OptionalIdempotencyKey,
) -> dict[str, Any]:
    """A new terminal; an Idempotency-Key makes a retry answer the same terminal."""
    terminal = await runtime.payments.merchants.add_terminal(
        merchant.id, store_id, body.label, idempotency_key=key
    )
    return _stamp(terminal)


@router.put("/settlement-account", response_model=MerchantOut)
async def set_settlement_account(
    body: SettlementAccountRequest, merchant: CurrentMerchant, runtime: RuntimeDep
) -> dict[str, Any]:
    """Where settlements are paid: the number is tokenised, only its last four are kept."""
    merchants = runtime.payments.merchants
    updated = await merchants.set_settlement_account(merchant.id, body.number, body.bank)
    return updated.to_dict()


@router.get("/api-keys", response_model=ApiKeysOut)
async def list_api_keys(merchant: CurrentMerchant, runtime: RuntimeDep) -> dict[str, Any]:
    """Every key, live or revoked; never a secret."""
    keys = await runtime.payments.merchants.list_keys(merchant.id)
    return {"api_keys": [key.to_dict() for key in keys]}


@router.post(
    "/api-keys", status_code=201, response_model=NewApiKeyOut, response_model_exclude_unset=True
)
async def create_api_key(
    merchant: CurrentMerchant, runtime: RuntimeDep, key: OptionalIdempotencyKey
) -> dict[str, Any]:
    """A new secret key, shown in this answer only (zhifu keeps its hash). A retry with
    the same Idempotency-Key answers the same key without `secret_key`: if the first
    answer was lost, revoke that key and create another."""
    created = await runtime.payments.merchants.create_key(merchant.id, idempotency_key=key)
    return created.to_dict()


@router.delete("/api-keys/{key_id}", status_code=204)
async def revoke_api_key(key_id: Id, merchant: CurrentMerchant, runtime: RuntimeDep) -> Response:
    """Revoke a key at once (revoking it again changes nothing)."""
    await runtime.payments.merchants.revoke_key(merchant.id, key_id)
    return Response(status_code=204)
