"""Trades as their merchant and their buyer see them, refunds, devices, QR codes."""

from __future__ import annotations

from pydantic import BaseModel


class TradeOut(BaseModel):
    """A trade as its merchant sees it; the ledger's references (holds, entries) stay in."""

    id: int
    trade_no: str
    merchant_id: int
    out_trade_no: str
    amount: int
    amount_decimal: str
    currency: str
    subject: str
    state: str
    method: str | None
    escrow: bool
    escrow_state: str | None
    buyer_user_id: int | None
    fee: int
    fee_decimal: str
    refunded_amount: int
    refunded_amount_decimal: str
    refunded_fee: int
    net_amount: int
    net_amount_decimal: str
    store_id: int | None
    terminal_id: int | None
    notify_url: str | None
    return_url: str | None
    close_reason: str | None
    password_free: bool
    expires_at: str
    paid_at: str | None
    refund_window_ends_at: str | None
    auto_confirm_at: str | None
    closed_at: str | None
    finished_at: str | None
    created_at: str
    updated_at: str


class TradesOut(BaseModel):
    trades: list[TradeOut]


class RefundOut(BaseModel):
    id: int
    trade_no: str
    out_request_no: str
    amount: int
    amount_decimal: str
    fee_refund: int
    fee_refund_decimal: str
    net_amount: int
    net_amount_decimal: str
    currency: str
    reason: str
    created_at: str


class RefundsOut(BaseModel):
    refunds: list[RefundOut]


class MerchantBrief(BaseModel):
    id: int
    name: str
    city: str


class CardPaymentOut(BaseModel):
    id: int
    trade_no: str
    card_id: int
    attempt: int
    funding_order_id: int | None
    state: str
    failure_code: str | None
    created_at: str
    completed_at: str | None


class BuyerTradeOut(BaseModel):
    """A trade as its buyer sees it: no merchant fee, URLs or ledger references."""

    trade_no: str
    out_trade_no: str
    amount: int
    amount_decimal: str
    currency: str
    subject: str
    state: str
    method: str | None
    escrow: bool
    escrow_state: str | None
    password_free: bool
    refunded_amount: int
    refunded_amount_decimal: str
    store_id: int | None
    expires_at: str
    paid_at: str | None
    closed_at: str | None
    created_at: str
    merchant: MerchantBrief
    card_payment: CardPaymentOut | None = None  # paying by card


class BuyerTradesOut(BaseModel):
    trades: list[BuyerTradeOut]


class DeviceOut(BaseModel):
    id: int
    name: str
    tap_token: str
    tap_enabled: bool
    created_at: str
    revoked_at: str | None


class NewDeviceOut(DeviceOut):
    code_secret: str


class DevicesOut(BaseModel):
    devices: list[DeviceOut]


class PaymentCodeOut(BaseModel):
    code: str
    device_id: int
    expires_at: str
    expires_in: int


class ScannedOut(BaseModel):
    kind: str
    merchant: MerchantBrief
    amount: int | None
    amount_decimal: str | None
    currency: str
    subject: str
    trade_no: str | None
    state: str | None
    store_id: int | None
    store_name: str | None


class PrecreatedOut(BaseModel):
    trade: TradeOut
    qr_payload: str
    qr_png_url: str
    qr_svg_url: str


class StoreQrOut(BaseModel):
    store_id: int
    currency: str
    qr_payload: str
    qr_png_url: str
    qr_svg_url: str
