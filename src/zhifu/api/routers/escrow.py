"""The buyer's side of a guaranteed (escrow) trade: confirm receipt, or ask for a refund.

Only the trade's buyer finds it here; anyone else gets a 404. Confirming releases the
money to the seller, so it needs an `Idempotency-Key`; a retry with the same key returns
the trade instead of refusing a step already taken.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from zhifu.api.auth import CurrentUser
from zhifu.api.deps import IdempotencyKey, OptionalIdempotencyKey, RuntimeDep
from zhifu.api.openapi import refusals
from zhifu.api.routers.pay import one_view
from zhifu.api.schemas import TradeNo
from zhifu.api.schemas.trades import BuyerTradeOut
from zhifu.errors import Conflict, NotFound

router = APIRouter(prefix="/v1/trades", tags=["escrow"], responses=refusals(NotFound, Conflict))


@router.post("/{trade_no}/confirm-receipt", response_model=BuyerTradeOut)
async def confirm_receipt(
    trade_no: TradeNo, user: CurrentUser, runtime: RuntimeDep, key: IdempotencyKey
) -> dict[str, Any]:
    """The goods arrived: the money leaves escrow for the seller, less the fee."""
    trade = await runtime.payments.escrow.confirm(user.id, trade_no, key=key)
    return await one_view(runtime, trade)


@router.post("/{trade_no}/refund-request", response_model=BuyerTradeOut)
async def request_refund(
    trade_no: TradeNo, user: CurrentUser, runtime: RuntimeDep, key: OptionalIdempotencyKey
) -> dict[str, Any]:
    """Ask the seller for the money back before confirming; the seller agrees or
    refuses, and a refusal goes to an operator as a dispute."""
    trade = await runtime.payments.escrow.request_refund(user.id, trade_no, key=key)
    return await one_view(runtime, trade)
