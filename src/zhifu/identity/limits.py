"""KYC tiers and the limits each sets on a user's wallet, in CNY fen.

| tier | who                                   | single payment | daily outflow | balance cap |
|------|---------------------------------------|---------------:|--------------:|------------:|
| 0    | phone number only                     |         500.00 |      1,000.00 |    1,000.00 |
| 1    | name and national ID checked          |       5,000.00 |     10,000.00 |   50,000.00 |
| 2    | bank card in the user's name verified |      50,000.00 |    100,000.00 |  500,000.00 |
| 3    | face or in-person verification        |     200,000.00 |  1,000,000.00 |   unlimited |

The ledger enforces them: single and daily limits on money leaving the wallet (daily
totals roll over at midnight Asia/Shanghai), the cap on the wallet's posted plus incoming
pending balance. Wallets in other currencies carry the same numbers in their own minor
units until limits are converted by exchange rate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from zhifu.errors import InvalidRequest
from zhifu.money import format_decimal


@dataclass(frozen=True, slots=True)
class TierLimits:
    single_payment: int
    daily_outflow: int
    balance_cap: int | None  # None: unlimited

    def to_dict(self, currency: str = "CNY") -> dict[str, Any]:
        cap = self.balance_cap
        return {
            "currency": currency,
            "single_payment": self.single_payment,
            "single_payment_decimal": format_decimal(self.single_payment, currency),
            "daily_outflow": self.daily_outflow,
            "daily_outflow_decimal": format_decimal(self.daily_outflow, currency),
            "balance_cap": cap,
            "balance_cap_decimal": None if cap is None else format_decimal(cap, currency),
        }


KYC_LIMITS: dict[int, TierLimits] = {
    0: TierLimits(single_payment=50_000, daily_outflow=100_000, balance_cap=100_000),
    1: TierLimits(single_payment=500_000, daily_outflow=1_000_000, balance_cap=5_000_000),
    2: TierLimits(single_payment=5_000_000, daily_outflow=10_000_000, balance_cap=50_000_000),
    3: TierLimits(single_payment=20_000_000, daily_outflow=100_000_000, balance_cap=None),
}


def check_tier(tier: int) -> int:
    if isinstance(tier, bool) or not isinstance(tier, int) or tier not in KYC_LIMITS:
        raise InvalidRequest(f"a KYC tier is one of {sorted(KYC_LIMITS)}", tier=str(tier)[:8])
    return tier
