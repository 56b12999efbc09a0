"""The payments capability as one object: trades, refunds, escrow, card payments, the
ways to pay, payouts; and, built here because trades need them, the merchants' services
(profile, webhook settings, the portal's staff logins)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from zhifu.clock import Clock
from zhifu.db.database import Database
from zhifu.events import PUBLIC_ONLY, Destinations
from zhifu.funding import FundingService
from zhifu.identity import UserService
from zhifu.merchants import MerchantNotifications, MerchantService, PortalLogins
from zhifu.payments.acquiring import DeviceService, PaymentMethods
from zhifu.payments.card_pay import CardPayments
from zhifu.payments.escrow import EscrowService
from zhifu.payments.pay import Paying
from zhifu.payments.payouts import PayoutService
from zhifu.payments.refunds import RefundService
from zhifu.payments.states import EVENT_TYPES
from zhifu.payments.trades import TradeLifecycle, TradeService


@dataclass(frozen=True)
class Payments:
    merchants: MerchantService
    trades: TradeService
    lifecycle: TradeLifecycle
    refunds: RefundService
    escrow: EscrowService
    notifications: MerchantNotifications
    cards: CardPayments
    paying: Paying
    devices: DeviceService
    methods: PaymentMethods
    payouts: PayoutService
    portal: PortalLogins

    @classmethod
    def build(
        cls,
        db: Database,
        clock: Clock,
        users: UserService,
        tokenizer_secret: bytes,
        funding: FundingService,
        *,
        destinations: Destinations = PUBLIC_ONLY,
    ) -> Payments:
        """`destinations`: where merchants' webhooks and notify_urls may point."""
        merchants = MerchantService(db, clock, tokenizer_secret)
        trades = TradeService(db, clock, merchants, users, destinations=destinations)
        lifecycle = TradeLifecycle(db, clock, trades)
        devices = DeviceService(db, clock)
        cards = CardPayments(db, clock, trades, funding)
        return cls(
            merchants=merchants,
            trades=trades,
            lifecycle=lifecycle,
            refunds=RefundService(db, clock, trades, lifecycle),
            escrow=EscrowService(db, clock, trades),
            notifications=MerchantNotifications(db, clock, EVENT_TYPES, destinations=destinations),
            cards=cards,
            paying=Paying(trades, cards),
            devices=devices,
            methods=PaymentMethods(db, clock, users, merchants, trades, devices),
            payouts=PayoutService(db, clock),
            portal=PortalLogins(db, clock, merchants, users.hasher),
        )

    def jobs(self) -> list[tuple[str, float, Callable[[], Awaitable[int]]]]:
        """The worker jobs that move trades along with the clock."""
        return [
            ("expire-trades", 1.0, self.lifecycle.expire_due),
            ("finish-trades", 60.0, self.lifecycle.finish_due),
            ("auto-confirm-escrow", 60.0, self.escrow.auto_confirm_due),
            ("complete-card-payments", 1.0, self.cards.complete_due),
        ]
