"""Errors of the payment methods, each with a stable code (see zhifu.errors).

Expired variants subclass their invalid parent, so a caller that only cares whether a
code or cryptogram was accepted catches one class; one that wants to tell the payer
"refresh your code" catches the expired one first.
"""

from __future__ import annotations

from zhifu.errors import (
    Conflict,
    Forbidden,
    InsufficientFunds,
    InvalidRequest,
    InvalidStateTransition,
    NotFound,
)


class InvalidQr(InvalidRequest):
    code = "invalid_qr"
    title = "Invalid QR code"


class InvalidPaymentCode(InvalidRequest):
    code = "invalid_payment_code"
    title = "Invalid payment code"


class PaymentCodeExpired(InvalidPaymentCode):
    code = "payment_code_expired"
    title = "Payment code expired"


class InvalidTapRequest(InvalidRequest):
    code = "invalid_tap_request"
    title = "Invalid tap request"


class InvalidCryptogram(InvalidRequest):
    code = "invalid_cryptogram"
    title = "Invalid tap cryptogram"


class CryptogramExpired(InvalidCryptogram):
    code = "cryptogram_expired"
    title = "Tap cryptogram expired"


class InvalidDeviceKey(InvalidRequest):
    code = "invalid_device_key"
    title = "Invalid device key"


class TradeExists(Conflict):
    code = "trade_exists"
    title = "out_trade_no already used for another trade"


class TradeNotFound(NotFound):
    code = "trade_not_found"
    title = "Trade not found"


class TradeExpired(InvalidStateTransition):
    code = "trade_expired"
    title = "Trade expired"


class TradePaid(InvalidStateTransition):
    code = "trade_already_paid"
    title = "Trade already paid"


class TradeClosed(InvalidStateTransition):
    code = "trade_closed"
    title = "Trade closed"


class PinRequired(Forbidden):
    code = "pin_required"
    title = "Payment PIN required"


class RefundTooLarge(InvalidRequest):
    code = "refund_exceeds_paid"
    title = "Refund exceeds what is left to refund"


class RefundExists(Conflict):
    code = "refund_exists"
    title = "out_request_no already used for another refund"


class MerchantInsufficientFunds(InsufficientFunds):
    code = "merchant_insufficient_funds"
    title = "The merchant's balance cannot cover this refund"


class TradeNotRefundable(InvalidStateTransition):
    code = "trade_not_refundable"
    title = "Trade cannot be refunded"
