"""What each journal entry or hold is: the kinds by which statements, bills, settlement
and reconciliation tell every movement of money apart.

A product that moves money adds its kind here and its legs to its own postings module
(payments/postings.py for trades, refunds, escrow and payouts).
"""

from __future__ import annotations

from enum import StrEnum


class EntryKind(StrEnum):
    TRANSFER = "transfer"  # one user to another
    TOPUP = "topup"  # bank -> wallet, a hold until the bank confirms
    WITHDRAWAL = "withdrawal"  # wallet -> bank, a hold until the bank confirms
    PAYMENT = "payment"  # buyer -> merchant's pending settlement + platform fee
    ESCROW = "escrow"  # buyer's money held for the merchant until receipt is confirmed
    FEE = "fee"  # the platform's fee on an escrow trade, taken when it is released
    REFUND = "refund"  # merchant + the fee returned -> buyer
    PAYOUT = "payout"  # merchant -> a user (alipay.fund.trans.uni.transfer)
    HOLD = "hold"  # a hold of no particular product
