"""In-person acquiring for merchants (secret-key auth): QR codes to show, and the
consumer's payment code or tap submitted by the terminal."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from zhifu.api.auth import CurrentMerchant
from zhifu.api.deps import RuntimeDep
from zhifu.api.openapi import refusals
from zhifu.api.schemas import Amount, Currency
from zhifu.api.schemas.trades import PrecreatedOut, StoreQrOut, TradeOut
from zhifu.errors import Conflict, Forbidden, InsufficientFunds, Locked, NotFound, RateLimited
from zhifu.inputs import MAX_ID
from zhifu.payments import DEFAULT_TIMEOUT, MAX_TIMEOUT, Trade, TradeState
from zhifu.payments.acquiring import (
    MAX_TAP_COUNTER,
    Order,
    TapSubmission,
    render_png,
    render_svg,
)

router = APIRouter(
    prefix="/v1/acquiring",
    tags=["acquiring"],
    responses=refusals(InsufficientFunds, Forbidden, NotFound, Conflict, Locked, RateLimited),
)
PNG: dict[int | str, dict[str, Any]] = {200: {"content": {"image/png": {}}}}
SVG: dict[int | str, dict[str, Any]] = {200: {"content": {"image/svg+xml": {}}}}
WAITING: dict[int | str, dict[str, Any]] = {
    202: {"description": "Waiting for the consumer's PIN", "model": TradeOut}
}

TradeNo = Annotated[str, Path(pattern=r"^[0-9]{1,32}$", description="zhifu's trade number")]
StoreId = Annotated[int, Path(gt=0, le=MAX_ID)]
Scale = Annotated[int, Query(ge=1, le=40, description="Pixels (PNG) or units (SVG) per module")]
CurrencyQuery = Annotated[str, Query(min_length=3, max_length=3, description="ISO 4217 code")]
OptionalId = Annotated[int | None, Field(strict=True, gt=0, le=MAX_ID)]


class OrderRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    out_trade_no: str = Field(min_length=1, max_length=64, description="Your order number")
    amount: Amount
    currency: Currency = "CNY"
    subject: str = Field(min_length=1, max_length=256)
    store_id: OptionalId = None

    def order(self) -> Order:
        return Order(
            out_trade_no=self.out_trade_no,
            amount=self.amount,
            subject=self.subject,
            currency=self.currency,
            store_id=self.store_id,
        )


class TerminalOrderRequest(OrderRequest):
    terminal_id: OptionalId = None

    def order(self) -> Order:
        return replace(super().order(), terminal_id=self.terminal_id)


class PrecreateRequest(TerminalOrderRequest):
    timeout_seconds: int | None = Field(
        None, strict=True, ge=60, le=int(MAX_TIMEOUT.total_seconds()), description="Default 900 s"
    )
    notify_url: str | None = Field(None, max_length=2000)


class PaymentCodeRequest(TerminalOrderRequest):
    auth_code: str = Field(min_length=1, max_length=32, description="The scanned payment code")


class TapRequest(OrderRequest):
    tap_token: str = Field(min_length=1, max_length=64)
    counter: int = Field(strict=True, ge=0, le=MAX_TAP_COUNTER)
    timestamp: AwareDatetime = Field(description="The tap's time as signed (unix seconds)")
    cryptogram: str = Field(min_length=1, max_length=128)
    terminal_id: str = Field(
        min_length=1, max_length=64, description="Your terminal's zhifu id, as the device signed it"
    )

    def submission(self) -> TapSubmission:
        return TapSubmission(
            tap_token=self.tap_token,
            terminal_id=self.terminal_id,
            counter=self.counter,
            timestamp=self.timestamp,
            cryptogram=self.cryptogram,
        )


def qr_links(request: Request, path: str, query: dict[str, str] | None = None) -> dict[str, str]:
    """Where the PNG and SVG images of a QR code are: `path` (under this router, its
    parameters already in it) joined to where the request arrived. Built by hand, not
    with `url_for`, which searches every route on each call (a payment's precreate)."""
    base = f"{str(request.base_url).rstrip('/')}{router.prefix}{path}"
    suffix = f"?{urlencode(query)}" if query else ""
    return {f"qr_{kind}_url": f"{base}.{kind}{suffix}" for kind in ("png", "svg")}


def image(payload: str, kind: str, scale: int) -> Response:
    if kind == "png":
        return Response(render_png(payload, scale), media_type="image/png")
    return Response(render_svg(payload, scale), media_type="image/svg+xml")


def charged(trade: Trade, response: Response) -> dict[str, Any]:
    """200 with the paid trade; 202 while it waits for the consumer's PIN."""
    if trade.state == TradeState.WAIT_BUYER_PAY:
        response.status_code = 202
    return trade.to_dict()


# Merchant-presented QR codes.


@router.post("/precreate", status_code=201, response_model=PrecreatedOut)
async def precreate(
    body: PrecreateRequest, merchant: CurrentMerchant, runtime: RuntimeDep, request: Request
) -> dict[str, Any]:
    """Create a trade to show as a dynamic QR code. The same out_trade_no returns the
    same trade and code."""
    timeout = body.timeout_seconds
    expires_after = DEFAULT_TIMEOUT if timeout is None else timedelta(seconds=timeout)
    made = await runtime.payments.methods.precreate(
        merchant, body.order(), expires_after=expires_after, notify_url=body.notify_url
    )
    return {
        "trade": made.trade.to_dict(),
        "qr_payload": made.qr_payload,
        **qr_links(request, f"/trades/{quote(made.trade.trade_no, safe='')}/qr"),
    }


@router.get(
    "/trades/{trade_no}/qr.png", name="trade_qr_png", response_class=Response, responses=PNG
)
async def trade_qr_png(
    trade_no: TradeNo, merchant: CurrentMerchant, runtime: RuntimeDep, scale: Scale = 8
) -> Response:
    """The trade's QR code as a PNG image."""
    return image(await runtime.payments.methods.trade_qr(merchant, trade_no), "png", scale)


@router.get(
    "/trades/{trade_no}/qr.svg", name="trade_qr_svg", response_class=Response, responses=SVG
)
async def trade_qr_svg(
    trade_no: TradeNo, merchant: CurrentMerchant, runtime: RuntimeDep, scale: Scale = 4
) -> Response:
    """The trade's QR code as an SVG image."""
    return image(await runtime.payments.methods.trade_qr(merchant, trade_no), "svg", scale)


@router.get("/stores/{store_id}/qr", response_model=StoreQrOut)
async def store_qr(
    store_id: StoreId,
    merchant: CurrentMerchant,
    runtime: RuntimeDep,
    request: Request,
    currency: CurrencyQuery = "CNY",
) -> dict[str, Any]:
    """The store's static QR code: payers scan it and type the amount."""
    payload = await runtime.payments.methods.store_qr(merchant, store_id, currency)
    links = qr_links(request, f"/stores/{store_id}/qr", {"currency": currency})
    return {"store_id": store_id, "currency": currency, "qr_payload": payload, **links}


@router.get(
    "/stores/{store_id}/qr.png", name="store_qr_png", response_class=Response, responses=PNG
)
async def store_qr_png(
    store_id: StoreId,
    merchant: CurrentMerchant,
    runtime: RuntimeDep,
    currency: CurrencyQuery = "CNY",
    scale: Scale = 8,
) -> Response:
    """The store's static QR code as a PNG image."""
    return image(
        await runtime.payments.methods.store_qr(merchant, store_id, currency), "png", scale
    )


@router.get(
    "/stores/{store_id}/qr.svg", name="store_qr_svg", response_class=Response, responses=SVG
)
async def store_qr_svg(
    store_id: StoreId,
    merchant: CurrentMerchant,
    runtime: RuntimeDep,
    currency: CurrencyQuery = "CNY",
    scale: Scale = 4,
) -> Response:
    """The store's static QR code as an SVG image."""
    return image(
        await runtime.payments.methods.store_qr(merchant, store_id, currency), "svg", scale
    )


# Credentials the consumer presents.


@router.post("/payment-code", response_model=TradeOut, responses=WAITING)
async def pay_with_code(
    body: PaymentCodeRequest, merchant: CurrentMerchant, runtime: RuntimeDep, response: Response
) -> dict[str, Any]:
    """Charge the consumer whose payment code the terminal scanned: 200 and the paid
    trade, or 202 and the trade waiting for the consumer to confirm with their PIN
    (above their password-free allowance). Sending it again returns the trade."""
    trade = await runtime.payments.methods.pay_with_code(merchant, body.order(), body.auth_code)
    return charged(trade, response)


@router.post("/tap", response_model=TradeOut, responses=WAITING)
async def pay_with_tap(
    body: TapRequest, merchant: CurrentMerchant, runtime: RuntimeDep, response: Response
) -> dict[str, Any]:
    """Charge the consumer whose device signed this tap (for this terminal, amount and
    currency): 200 paid, or 202 waiting for their PIN, as for the payment code."""
    trade = await runtime.payments.methods.pay_with_tap(merchant, body.order(), body.submission())
    return charged(trade, response)
