"""Reporting: read models over any table, writing none. The bills of a merchant's trades
and balance movements (bills) and the merchant's takings and trade search (merchant
reports). Reporting sits above payments and merchants and owns no table.

This is the face: code outside reporting imports from here only."""

from __future__ import annotations

from dataclasses import dataclass

from zhifu.clock import Clock
from zhifu.db.database import Database
from zhifu.reporting.bills import PAYMENT, REFUND, AccountBillLine, BillService, TradeBillLine
from zhifu.reporting.merchant_reports import (
    DayTakings,
    MerchantReports,
    TradePage,
    TradeQuery,
    day_start,
)


@dataclass(frozen=True)
class Reporting:
    bills: BillService
    reports: MerchantReports

    @classmethod
    def build(cls, db: Database, clock: Clock) -> Reporting:
        return cls(bills=BillService(db), reports=MerchantReports(db, clock))


__all__ = [
    "PAYMENT",
    "REFUND",
    "AccountBillLine",
    "BillService",
    "DayTakings",
    "MerchantReports",
    "Reporting",
    "TradeBillLine",
    "TradePage",
    "TradeQuery",
    "day_start",
]
