"""The consumer's ways to pay: devices, the payment code, scanning a QR code, paying a
trade, and the trades they paid or are asked to confirm."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from zhifu.api.auth import CurrentUser
from zhifu.api.deps import IdempotencyKey, OptionalIdempotencyKey, RuntimeDep
from zhifu.api.openapi import refusals
from zhifu.api.schemas import Amount
from zhifu.api.schemas.trades import (
    BuyerTradeOut,
    BuyerTradesOut,
    DevicesOut,
    NewDeviceOut,
    PaymentCodeOut,
    ScannedOut,
)
from zhifu.errors import Conflict, Forbidden, InsufficientFunds, Locked, NotFound, RateLimited
from zhifu.inputs import MAX_ID
from zhifu.merchants import Merchant
from zhifu.payments import Trade
from zhifu.runtime import Runtime

router = APIRouter(
    prefix="/v1",
    tags=["pay"],
    responses=refusals(InsufficientFunds, Forbidden, NotFound, Conflict, Locked, RateLimited),
)

TradeNo = Annotated[str, Path(pattern=r"^[0-9]{1,32}$", description="zhifu's trade number")]
DeviceId = Annotated[int, Path(gt=0, le=MAX_ID)]
Limit = Annotated[int, Query(ge=1, le=500)]


class DeviceRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=64, description="e.g. the phone's model")
    tap_public_key: str | None = Field(
        None, max_length=4096, description="ECDSA P-256 public key (PEM) to tap to pay"
    )


class ScanRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    payload: str = Field(min_length=1, max_length=512, description="The scanned QR text")


class PayRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    pin: str | None = Field(
        None,
        pattern=r"^[0-9]{6}$",
        description="The payment PIN; without it the password-free allowance applies",
    )
    funding: Literal["wallet", "card"] = Field(
        "wallet", description="Pay from the wallet balance, or from a linked card"
    )
    card_id: int | None = Field(None, ge=1, le=2**63 - 1, description="With funding=card")


class StaticPayRequest(PayRequest):
    payload: str = Field(min_length=1, max_length=512, description="The store's static QR")
    amount: Amount


def buyer_view(trade: Trade, merchant: Merchant) -> dict[str, Any]:
    """A trade as its buyer sees it (no merchant fee, URLs or ledger references)."""
    keep = (
        "trade_no", "out_trade_no", "amount", "amount_decimal", "currency", "subject",
        "state", "method", "escrow", "escrow_state", "password_free", "refunded_amount",
        "refunded_amount_decimal", "store_id", "expires_at", "paid_at", "closed_at",
        "created_at",
    )  # fmt: skip
    body = trade.to_dict()
    view = {name: body[name] for name in keep}
    view["merchant"] = {"id": merchant.id, "name": merchant.name, "city": merchant.city}
    return view


async def buyer_views(runtime: Runtime, trades: list[Trade]) -> list[dict[str, Any]]:
    merchants: dict[int, Merchant] = {}
    for trade in trades:
        if trade.merchant_id not in merchants:
            merchants[trade.merchant_id] = await runtime.payments.merchants.get(trade.merchant_id)
    return [buyer_view(trade, merchants[trade.merchant_id]) for trade in trades]


async def one_view(runtime: Runtime, trade: Trade) -> dict[str, Any]:
    return buyer_view(trade, await runtime.payments.merchants.get(trade.merchant_id))


# Devices and the payment code.


@router.post("/devices", status_code=201, tags=["devices"], response_model=NewDeviceOut)
async def register_device(
    body: DeviceRequest, user: CurrentUser, runtime: RuntimeDep, key: OptionalIdempotencyKey
) -> dict[str, Any]:
    """Register a payment device. The answer carries the device's payment-code secret
    (`code_secret`, base64) for the app to keep; a retry with the same Idempotency-Key
    answers the same device and secret."""
    new = await runtime.payments.devices.register(
        user.id, body.name, body.tap_public_key, idempotency_key=key
    )
    return new.to_dict()


@router.get("/devices", tags=["devices"], response_model=DevicesOut)
async def list_devices(user: CurrentUser, runtime: RuntimeDep) -> dict[str, Any]:
    """The user's active payment devices, newest first."""
    devices = await runtime.payments.devices.devices(user.id)
    return {"devices": [device.to_dict() for device in devices]}


@router.delete("/devices/{device_id}", status_code=204, tags=["devices"])
async def revoke_device(device_id: DeviceId, user: CurrentUser, runtime: RuntimeDep) -> Response:
    """Revoke a device: its payment codes and taps are refused from now on."""
    await runtime.payments.devices.revoke(user.id, device_id)
    return Response(status_code=204)


@router.get("/payment-code", response_model=PaymentCodeOut)
async def payment_code(user: CurrentUser, runtime: RuntimeDep) -> dict[str, Any]:
    """The one-time payment code the user's newest device shows now (a device is
    registered if they have none), and how many seconds it stays valid."""
    return (await runtime.payments.devices.current_code(user.id)).to_dict()


# Merchant-presented QR codes.


@router.post("/scan", response_model=ScannedOut)
async def scan(body: ScanRequest, user: CurrentUser, runtime: RuntimeDep) -> dict[str, Any]:
    """Read a scanned merchant QR code: the merchant, and the trade it names (dynamic) or
    the store where the payer types the amount (static)."""
    return (await runtime.payments.methods.scan(user.id, body.payload)).to_dict()


@router.post("/scan/pay", response_model=BuyerTradeOut, response_model_exclude_unset=True)
async def pay_static(
    body: StaticPayRequest, user: CurrentUser, runtime: RuntimeDep, key: IdempotencyKey
) -> dict[str, Any]:
    """Pay the amount the user typed at a store's static QR code. A retry with the same
    Idempotency-Key returns the same trade; with another amount it is refused."""
    trade = await runtime.payments.methods.pay_static(
        user.id, body.payload, body.amount, idempotency_key=key, pin=body.pin
    )
    return await one_view(runtime, trade)


# The user's trades.


@router.get(
    "/trades", tags=["trades"], response_model=BuyerTradesOut, response_model_exclude_unset=True
)
async def my_trades(user: CurrentUser, runtime: RuntimeDep, limit: Limit = 50) -> dict[str, Any]:
    """The user's trades, newest first."""
    trades = await runtime.payments.trades.list_for_buyer(user.id, limit)
    return {"trades": await buyer_views(runtime, trades)}


@router.get(
    "/trades/pending",
    tags=["trades"],
    response_model=BuyerTradesOut,
    response_model_exclude_unset=True,
)
async def pending_trades(user: CurrentUser, runtime: RuntimeDep) -> dict[str, Any]:
    """Trades a merchant's terminal made for the user (payment code, tap) above the
    password-free allowance: each waits for POST /v1/trades/{trade_no}/pay with the PIN."""
    trades = await runtime.payments.methods.awaiting_buyer(user.id)
    return {"trades": await buyer_views(runtime, trades)}


@router.get(
    "/trades/{trade_no}",
    tags=["trades"],
    response_model=BuyerTradeOut,
    response_model_exclude_unset=True,
)
async def get_trade(trade_no: TradeNo, user: CurrentUser, runtime: RuntimeDep) -> dict[str, Any]:
    """A trade of the user's, or one still waiting for a buyer (as scanning shows it)."""
    return await one_view(runtime, await runtime.payments.methods.buyer_trade(user.id, trade_no))


@router.post(
    "/trades/{trade_no}/pay",
    tags=["trades"],
    response_model=BuyerTradeOut,
    response_model_exclude_unset=True,
    responses={202: {"description": "The bank confirms the card charge", "model": BuyerTradeOut}},
)
async def pay_trade(
    trade_no: TradeNo,
    user: CurrentUser,
    runtime: RuntimeDep,
    response: Response,
    body: Annotated[PayRequest | None, Body()] = None,
) -> dict[str, Any]:
    """Pay a waiting trade from the wallet or a linked card: with the PIN, or without it
    within the password-free allowance. The trade number is the idempotency key: paying
    a trade the user already paid returns it. 202 while the bank confirms a card charge."""
    body = body or PayRequest()
    result = await runtime.payments.paying.pay_trade(
        trade_no, user.id, funding=body.funding, card_id=body.card_id, pin=body.pin
    )
    if result.status == "pending":
        response.status_code = 202
    view = await one_view(runtime, result.trade)
    if result.card_payment is not None:
        view["card_payment"] = result.card_payment.to_dict()
    return view
