"""Alipay's answer codes, and zhifu's domain errors mapped onto them.

Every gateway answer carries `code` and `msg`; a failure also carries `sub_code` and
`sub_msg` (the official SDK's `is_success()` is "no sub_code"), a success never does.
"""

from __future__ import annotations

from typing import Any

from zhifu.errors import (
    BalanceCapExceeded,
    Forbidden,
    InsufficientFunds,
    InvalidAmount,
    InvalidRequest,
    InvalidStateTransition,
    LimitExceeded,
    NotFound,
    RateLimited,
    SandboxMismatch,
    ZhifuError,
)
from zhifu.payments import (
    InvalidPaymentCode,
    MerchantInsufficientFunds,
    PinRequired,
    RefundExists,
    RefundTooLarge,
    TradeClosed,
    TradeExists,
    TradeExpired,
    TradeNotFound,
    TradeNotRefundable,
    TradePaid,
)
from zhifu.payments.acquiring import PaymentCodeUsed

SUCCESS = "10000"
WAITING_FOR_BUYER = "10003"
UNAVAILABLE = "20000"
INSUFFICIENT_TOKEN_PERMISSIONS = "20001"
MISSING_ARGUMENTS = "40001"
INVALID_ARGUMENTS = "40002"
BUSINESS_FAILED = "40004"
INSUFFICIENT_PERMISSIONS = "40006"

MESSAGES = {
    SUCCESS: "Success",
    WAITING_FOR_BUYER: "Waiting for user to pay",
    UNAVAILABLE: "Service Currently Unavailable",
    INSUFFICIENT_TOKEN_PERMISSIONS: "Insufficient Token Permissions",
    MISSING_ARGUMENTS: "Missing Required Arguments",
    INVALID_ARGUMENTS: "Invalid Arguments",
    BUSINESS_FAILED: "Business Failed",
    INSUFFICIENT_PERMISSIONS: "Insufficient Permissions",
}


class GatewayError(Exception):
    """A refusal in Alipay's terms: code, sub_code and a readable sub_msg."""

    def __init__(self, code: str, sub_code: str, sub_msg: str) -> None:
        super().__init__(f"{code} {sub_code}: {sub_msg}")
        self.code = code
        self.sub_code = sub_code
        self.sub_msg = sub_msg

    def to_dict(self) -> dict[str, Any]:
        return failure(self.code, self.sub_code, self.sub_msg)


def failure(code: str, sub_code: str, sub_msg: str) -> dict[str, Any]:
    return {"code": code, "msg": MESSAGES[code], "sub_code": sub_code, "sub_msg": sub_msg}


def missing(what: str, sub_code: str) -> GatewayError:
    return GatewayError(MISSING_ARGUMENTS, sub_code, f"missing {what}")


def invalid(sub_code: str, sub_msg: str) -> GatewayError:
    return GatewayError(INVALID_ARGUMENTS, sub_code, sub_msg)


def invalid_parameter(sub_msg: str) -> GatewayError:
    return invalid("isv.invalid-parameter", sub_msg)


# Most specific first: the first class the error is an instance of decides.
_DOMAIN_CODES: tuple[tuple[type[ZhifuError], str, str], ...] = (
    (TradeNotFound, BUSINESS_FAILED, "ACQ.TRADE_NOT_EXIST"),
    (InvalidAmount, INVALID_ARGUMENTS, "isv.invalid-parameter"),
    (InvalidPaymentCode, BUSINESS_FAILED, "ACQ.PAYMENT_AUTH_CODE_INVALID"),
    (PaymentCodeUsed, BUSINESS_FAILED, "ACQ.PAYMENT_AUTH_CODE_INVALID"),
    (RateLimited, BUSINESS_FAILED, "ACQ.PAYMENT_REQUEST_HAS_RISK"),
    (MerchantInsufficientFunds, BUSINESS_FAILED, "ACQ.SELLER_BALANCE_NOT_ENOUGH"),
    (InsufficientFunds, BUSINESS_FAILED, "ACQ.BUYER_BALANCE_NOT_ENOUGH"),
    (TradeExists, BUSINESS_FAILED, "ACQ.CONTEXT_INCONSISTENT"),
    (RefundExists, BUSINESS_FAILED, "ACQ.DISCORDANT_REPEAT_REQUEST"),
    (RefundTooLarge, BUSINESS_FAILED, "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL"),
    (TradePaid, BUSINESS_FAILED, "ACQ.TRADE_HAS_SUCCESS"),
    (TradeClosed, BUSINESS_FAILED, "ACQ.TRADE_HAS_CLOSE"),
    (TradeExpired, BUSINESS_FAILED, "ACQ.TRADE_HAS_CLOSE"),
    (TradeNotRefundable, BUSINESS_FAILED, "ACQ.TRADE_STATUS_ERROR"),
    (InvalidStateTransition, BUSINESS_FAILED, "ACQ.TRADE_STATUS_ERROR"),
    (PinRequired, BUSINESS_FAILED, "ACQ.PAYMENT_FAIL"),
    (LimitExceeded, BUSINESS_FAILED, "ACQ.PAYMENT_FAIL"),
    (BalanceCapExceeded, BUSINESS_FAILED, "ACQ.PAYMENT_FAIL"),
    (SandboxMismatch, BUSINESS_FAILED, "ACQ.PAYMENT_FAIL"),
    (Forbidden, BUSINESS_FAILED, "ACQ.ACCESS_FORBIDDEN"),
    (InvalidRequest, BUSINESS_FAILED, "ACQ.INVALID_PARAMETER"),
    (NotFound, BUSINESS_FAILED, "ACQ.INVALID_PARAMETER"),
)


def from_domain(error: ZhifuError) -> GatewayError:
    """The Alipay code of a zhifu domain error; anything unlisted is a retryable
    system error (Alipay's ACQ.SYSTEM_ERROR, code 20000)."""
    for kind, code, sub_code in _DOMAIN_CODES:
        if isinstance(error, kind):
            return GatewayError(code, sub_code, error.message)
    return GatewayError(UNAVAILABLE, "ACQ.SYSTEM_ERROR", error.message)
