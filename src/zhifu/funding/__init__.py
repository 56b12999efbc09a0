"""Funding: top-ups from and withdrawals to linked cards, through a bank connector."""

from zhifu.funding.bank import (
    BankCallback,
    BankConnector,
    BankError,
    BankRequest,
    BankResult,
    BankStatus,
    ChargeRequest,
    DeclineReason,
    Direction,
    PayoutRequest,
    ReferenceReused,
)
from zhifu.funding.orders import FundingKind, FundingOrder, FundingRequest, OrderState
from zhifu.funding.service import FundingService
from zhifu.funding.simulator import MAGIC_CARDS, BankSimulator, Scenario, scenario_for

__all__ = [
    "MAGIC_CARDS",
    "BankCallback",
    "BankConnector",
    "BankError",
    "BankRequest",
    "BankResult",
    "BankSimulator",
    "BankStatus",
    "ChargeRequest",
    "DeclineReason",
    "Direction",
    "FundingKind",
    "FundingOrder",
    "FundingRequest",
    "FundingService",
    "OrderState",
    "PayoutRequest",
    "ReferenceReused",
    "Scenario",
    "scenario_for",
]
