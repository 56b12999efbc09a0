"""A merchant's trades over the REST API: create, query, list, refund, close, cancel, and
the seller's side of a guaranteed (escrow) trade.

A merchant only ever finds its own trades: another merchant's trade number is a 404.
Calls that may move money (refund, cancel, answering a refund request) need an
`Idempotency-Key`; see docs/payments.md for how it relates to `out_request_no`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from zhifu.api.auth import CurrentMerchant
from zhifu.api.deps import IdempotencyKey, OptionalIdempotencyKey, RuntimeDep
from zhifu.api.openapi import refusals
from zhifu.api.schemas import Amount, Currency, TradeNo
from zhifu.api.schemas.trades import RefundOut, RefundsOut, TradeOut, TradesOut
from zhifu.errors import Conflict, Forbidden, InsufficientFunds, NotFound
from zhifu.inputs import MAX_ID
from zhifu.payments import DEFAULT_TIMEOUT, MAX_TIMEOUT, NewTrade, TradeState

router = APIRouter(
    prefix="/v1/merchant/trades",
    tags=["merchant trades"],
    responses=refusals(InsufficientFunds, Forbidden, NotFound, Conflict),
)

Ref = Annotated[int | None, Field(None, strict=True, gt=0, le=MAX_ID)]
Url = Annotated[str | None, Field(None, max_length=2000)]


class TradeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    out_trade_no: str = Field(min_length=1, max_length=64, description="Your order number")
    amount: Amount
    currency: Currency = "CNY"
    subject: str = Field(min_length=1, max_length=256)
    timeout_seconds: int = Field(
        int(DEFAULT_TIMEOUT.total_seconds()),
        strict=True,
        ge=60,
        le=int(MAX_TIMEOUT.total_seconds()),
        description="Unpaid after this long, the trade closes",
    )
    escrow: bool = Field(False, strict=True, description="A guaranteed trade")
    store_id: Ref = None
    terminal_id: Ref = None
    notify_url: Url = None
    return_url: Url = None

    def new_trade(self) -> NewTrade:
        fields = self.model_dump(exclude={"timeout_seconds"})
        return NewTrade(**fields, timeout=timedelta(seconds=self.timeout_seconds))


class RefundRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    out_request_no: str = Field(min_length=1, max_length=64, description="Your refund number")
    amount: Amount
    reason: str = Field("", max_length=256)


class RefundAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    agree: bool = Field(strict=True, description="Refund the buyer, or refuse (a dispute)")


@router.post("", status_code=201, response_model=TradeOut)
async def create_trade(
    body: TradeRequest, merchant: CurrentMerchant, runtime: RuntimeDep
) -> dict[str, Any]:
    """Create a trade waiting for its buyer. The same out_trade_no with the same request
    returns the same trade; with another amount, currency, subject, escrow or store it
    is refused (409 trade_exists)."""
    return (await runtime.payments.trades.create(merchant, body.new_trade())).to_dict()


@router.get("", response_model=TradesOut)
async def list_trades(
    merchant: CurrentMerchant,
    runtime: RuntimeDep,
    state: TradeState | None = None,
    out_trade_no: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    before: Annotated[int | None, Query(gt=0, le=MAX_ID)] = None,
) -> dict[str, Any]:
    """The merchant's trades, newest first; page back with `before` (a trade's `id`).
    With `out_trade_no`: the trade of that order number, if there is one."""
    trades = await runtime.payments.trades.list_trades(
        merchant.id, state=state, out_trade_no=out_trade_no, limit=limit, before=before
    )
    return {"trades": [trade.to_dict() for trade in trades]}


@router.get("/{trade_no}", response_model=TradeOut)
async def get_trade(
    trade_no: TradeNo, merchant: CurrentMerchant, runtime: RuntimeDep
) -> dict[str, Any]:
    return (await runtime.payments.trades.get(merchant.id, trade_no=trade_no)).to_dict()


@router.post("/{trade_no}/refunds", status_code=201, response_model=RefundOut)
async def refund(
    trade_no: TradeNo,
    body: RefundRequest,
    merchant: CurrentMerchant,
    runtime: RuntimeDep,
    key: IdempotencyKey,
) -> dict[str, Any]:
    """Refund part or all of a paid trade, with its fee in proportion. The same
    out_request_no again returns the first refund; the total never exceeds the amount."""
    made = await runtime.payments.refunds.refund(
        merchant.id,
        trade_no=trade_no,
        out_request_no=body.out_request_no,
        amount=body.amount,
        reason=body.reason,
        idempotency_key=key,
    )
    return made.to_dict()


@router.get("/{trade_no}/refunds", response_model=RefundsOut)
async def list_refunds(
    trade_no: TradeNo, merchant: CurrentMerchant, runtime: RuntimeDep
) -> dict[str, Any]:
    refunds = await runtime.payments.refunds.list_refunds(merchant.id, trade_no)
    return {"refunds": [made.to_dict() for made in refunds]}


@router.post("/{trade_no}/close", response_model=TradeOut)
async def close_trade(
    trade_no: TradeNo, merchant: CurrentMerchant, runtime: RuntimeDep
) -> dict[str, Any]:
    """Close a trade still waiting for its buyer; it can no longer be paid."""
    return (await runtime.payments.lifecycle.close(merchant.id, trade_no=trade_no)).to_dict()


@router.post("/{trade_no}/cancel", response_model=TradeOut)
async def cancel_trade(
    trade_no: TradeNo, merchant: CurrentMerchant, runtime: RuntimeDep, key: IdempotencyKey
) -> dict[str, Any]:
    """Close the trade if unpaid, refund it in full if paid (out_request_no `cancel`)."""
    cancelled = await runtime.payments.refunds.cancel(
        merchant.id, trade_no=trade_no, idempotency_key=key
    )
    return cancelled.to_dict()


@router.post("/{trade_no}/ship", response_model=TradeOut)
async def ship(
    trade_no: TradeNo, merchant: CurrentMerchant, runtime: RuntimeDep, key: OptionalIdempotencyKey
) -> dict[str, Any]:
    """Mark a guaranteed trade shipped; the buyer's money stays in escrow."""
    return (await runtime.payments.escrow.ship(merchant.id, trade_no, key=key)).to_dict()


@router.post("/{trade_no}/refund-request/answer", response_model=TradeOut)
async def answer_refund_request(
    trade_no: TradeNo,
    body: RefundAnswer,
    merchant: CurrentMerchant,
    runtime: RuntimeDep,
    key: IdempotencyKey,
) -> dict[str, Any]:
    """Agree to the buyer's refund request (the escrow returns to the buyer) or refuse
    it (the trade becomes a dispute for an operator to decide)."""
    answered = await runtime.payments.escrow.answer_refund(
        merchant.id, trade_no, agree=body.agree, key=key
    )
    return answered.to_dict()
