"""Top-ups from and withdrawals to linked cards, and the funding orders they create.

A call answers once the bank has: 201 with the order `succeeded` or `failed`, or 202
with the order `pending` when the bank timed out (it finishes later; poll the order).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from zhifu.api.auth import CurrentUser
from zhifu.api.deps import IdempotencyKey, RuntimeDep
from zhifu.api.openapi import refusals
from zhifu.api.schemas import Amount, Currency
from zhifu.api.schemas.wallet import FundingOrderOut, FundingOrdersOut
from zhifu.errors import Conflict, Forbidden, InsufficientFunds, Locked, NotFound, RateLimited
from zhifu.funding import FundingOrder
from zhifu.inputs import MAX_ID

router = APIRouter(
    tags=["funding"],
    responses=refusals(InsufficientFunds, Forbidden, NotFound, Conflict, Locked, RateLimited),
)
PENDING: dict[int | str, dict[str, Any]] = {
    202: {"description": "The bank has not answered yet", "model": FundingOrderOut}
}

OrderId = Annotated[int, Path(gt=0, le=MAX_ID)]
CardRef = Annotated[int, Field(strict=True, gt=0, le=MAX_ID, description="A linked card")]


class TopupRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    card_id: CardRef
    amount: Amount
    currency: Currency = "CNY"


class WithdrawalRequest(TopupRequest):
    pin: str = Field(pattern=r"^[0-9]{6}$", description="The payment PIN")


def _answer(order: FundingOrder, response: Response) -> dict[str, Any]:
    response.status_code = 202 if order.pending else 201
    return order.to_dict()


@router.post("/v1/topups", status_code=201, response_model=FundingOrderOut, responses=PENDING)
async def create_topup(
    body: TopupRequest,
    user: CurrentUser,
    runtime: RuntimeDep,
    key: IdempotencyKey,
    response: Response,
) -> dict[str, Any]:
    """Charge a linked card into the wallet. A retry with the same Idempotency-Key
    returns the same order; the card is charged once."""
    order = await runtime.funding.topup(user.id, body.card_id, body.amount, body.currency, key)
    return _answer(order, response)


@router.post("/v1/withdrawals", status_code=201, response_model=FundingOrderOut, responses=PENDING)
async def create_withdrawal(
    body: WithdrawalRequest,
    user: CurrentUser,
    runtime: RuntimeDep,
    key: IdempotencyKey,
    response: Response,
) -> dict[str, Any]:
    """Pay wallet money out to a linked card or account; needs the payment PIN. The
    money is reserved at once and returned to the wallet if the bank refuses."""
    order = await runtime.funding.withdraw(
        user.id, body.card_id, body.amount, body.currency, body.pin, key
    )
    return _answer(order, response)


@router.get("/v1/funding-orders/{order_id}", response_model=FundingOrderOut)
async def get_funding_order(
    order_id: OrderId, user: CurrentUser, runtime: RuntimeDep
) -> dict[str, Any]:
    return (await runtime.funding.get(user.id, order_id)).to_dict()


@router.get("/v1/funding-orders", response_model=FundingOrdersOut)
async def list_funding_orders(
    user: CurrentUser,
    runtime: RuntimeDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    before: Annotated[int | None, Query(gt=0, le=MAX_ID)] = None,
) -> dict[str, Any]:
    """The user's top-ups and withdrawals, newest first; page on with `before` (an id)."""
    orders = await runtime.funding.list(user.id, limit=limit, before=before)
    return {"funding_orders": [order.to_dict() for order in orders]}
