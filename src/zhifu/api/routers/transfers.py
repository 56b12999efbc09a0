"""Transfers between users, each needing the payment PIN and an Idempotency-Key."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field

from zhifu.api.auth import CurrentUser
from zhifu.api.deps import IdempotencyKey, RuntimeDep
from zhifu.api.openapi import refusals
from zhifu.api.schemas import Amount, Currency
from zhifu.api.schemas.wallet import ReceiptOut
from zhifu.errors import Conflict, Forbidden, InsufficientFunds, Locked, NotFound, RateLimited
from zhifu.inputs import MAX_ID

router = APIRouter(
    prefix="/v1/transfers",
    tags=["transfers"],
    responses=refusals(InsufficientFunds, Forbidden, NotFound, Conflict, Locked, RateLimited),
)


class TransferRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    to_user_id: int | None = Field(None, strict=True, gt=0, le=MAX_ID)
    to_phone: str | None = Field(None, max_length=32)
    amount: Amount
    currency: Currency = "CNY"
    memo: str = Field("", max_length=140)
    pin: str = Field(pattern=r"^[0-9]{6}$", description="The payment PIN")


@router.post("", status_code=201, response_model=ReceiptOut)
async def send_transfer(
    body: TransferRequest, user: CurrentUser, runtime: RuntimeDep, key: IdempotencyKey
) -> dict[str, Any]:
    """Send money to another user, named by `to_user_id` or `to_phone`; returns the
    receipt. A retry with the same Idempotency-Key returns the same receipt."""
    receipt = await runtime.transfers.transfer(
        user.id,
        to_user_id=body.to_user_id,
        to_phone=body.to_phone,
        amount=body.amount,
        currency=body.currency,
        memo=body.memo,
        pin=body.pin,
        idempotency_key=key,
    )
    return receipt.to_dict()


@router.get("/{entry_id}", response_model=ReceiptOut)
async def get_receipt(
    entry_id: Annotated[int, Path(gt=0, le=MAX_ID)], user: CurrentUser, runtime: RuntimeDep
) -> dict[str, Any]:
    """The receipt of a transfer the user sent or received."""
    return (await runtime.transfers.receipt(user.id, entry_id)).to_dict()
