"""Payments: trades and how they are paid, refunds and escrow, payouts to users.

The trade model and its state tables (model, states), fees, the posting recipes
(postings), the trades themselves (trades), card payments (card_pay), refunds, escrow and
payouts; the ways to pay in person are the sub-package acquiring. Payments use merchants
and sit below reporting and the open platform.

This is the face: code outside payments imports from here (or from
zhifu.payments.acquiring) only."""

from zhifu.payments.card_pay import (
    CardDeclined,
    CardPayment,
    CardPaymentInProgress,
    CardPaymentState,
    ChargedToWallet,
    PaymentResult,
)
from zhifu.payments.errors import (
    CryptogramExpired,
    InvalidCryptogram,
    InvalidDeviceKey,
    InvalidPaymentCode,
    InvalidQr,
    InvalidTapRequest,
    MerchantInsufficientFunds,
    PaymentCodeExpired,
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
from zhifu.payments.model import COLUMNS as TRADE_COLUMNS
from zhifu.payments.model import DEFAULT_TIMEOUT, MAX_TIMEOUT, NewTrade, Trade, trade_from_row
from zhifu.payments.model import METHODS as TRADE_METHODS
from zhifu.payments.pay import FundingSource, Paying
from zhifu.payments.payouts import NewPayout, Payout, PayoutExists, PayoutNotFound
from zhifu.payments.refunds import Refund
from zhifu.payments.service import Payments
from zhifu.payments.states import EVENT_TYPES, EscrowState, TradeState
from zhifu.payments.trades import TradeService

__all__ = [
    "DEFAULT_TIMEOUT",
    "EVENT_TYPES",
    "MAX_TIMEOUT",
    "TRADE_COLUMNS",
    "TRADE_METHODS",
    "CardDeclined",
    "CardPayment",
    "CardPaymentInProgress",
    "CardPaymentState",
    "ChargedToWallet",
    "CryptogramExpired",
    "EscrowState",
    "FundingSource",
    "InvalidCryptogram",
    "InvalidDeviceKey",
    "InvalidPaymentCode",
    "InvalidQr",
    "InvalidTapRequest",
    "MerchantInsufficientFunds",
    "NewPayout",
    "NewTrade",
    "Paying",
    "PaymentCodeExpired",
    "PaymentResult",
    "Payments",
    "Payout",
    "PayoutExists",
    "PayoutNotFound",
    "PinRequired",
    "Refund",
    "RefundExists",
    "RefundTooLarge",
    "Trade",
    "TradeClosed",
    "TradeExists",
    "TradeExpired",
    "TradeNotFound",
    "TradeNotRefundable",
    "TradePaid",
    "TradeService",
    "TradeState",
    "trade_from_row",
]
