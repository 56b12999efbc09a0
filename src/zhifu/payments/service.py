"""The payments capability as one object: merchants, trades, refunds, escrow."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from zhifu.clock import Clock
from zhifu.db.database import Database
from zhifu.identity import UserService
from zhifu.payments.escrow import EscrowService
from zhifu.payments.merchants import MerchantService
from zhifu.payments.refunds import RefundService
from zhifu.payments.trades import TradeLifecycle, TradeService


@dataclass(frozen=True)
class Payments:
    merchants: MerchantService
    trades: TradeService
    lifecycle: TradeLifecycle
    refunds: RefundService
    escrow: EscrowService

    @classmethod
    def build(
        cls, db: Database, clock: Clock, users: UserService, tokenizer_secret: bytes
    ) -> Payments:
        merchants = MerchantService(db, clock, tokenizer_secret)
        trades = TradeService(db, clock, merchants, users)
        lifecycle = TradeLifecycle(db, clock, trades)
        return cls(
            merchants=merchants,
            trades=trades,
            lifecycle=lifecycle,
            refunds=RefundService(db, clock, trades, lifecycle),
            escrow=EscrowService(db, clock, trades),
        )

    def jobs(self) -> list[tuple[str, float, Callable[[], Awaitable[int]]]]:
        """The worker jobs that move trades along with the clock."""
        return [
            ("expire-trades", 1.0, self.lifecycle.expire_due),
            ("finish-trades", 60.0, self.lifecycle.finish_due),
            ("auto-confirm-escrow", 60.0, self.escrow.auto_confirm_due),
        ]
