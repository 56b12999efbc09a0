"""Paying a waiting trade: the choice of funding source, in one place.

- `wallet`: the wallet balance pays the trade in one ledger entry (`TradeService.pay`).
- `card`: the linked card is charged the trade's amount into the wallet, and the wallet
  pays the trade once the bank confirms (`CardPayments.pay`, see card_pay.py); until
  then the payment is `pending`.

Either way the PIN is asked unless the amount fits the password-free allowance, and the
trade number is the idempotency key: paying a trade this buyer already paid returns it.
"""

from __future__ import annotations

from typing import Literal

from zhifu.errors import InvalidRequest
from zhifu.payments.card_pay import CardPayments, PaymentResult
from zhifu.payments.errors import TradePaid
from zhifu.payments.trades import TradeService

FundingSource = Literal["wallet", "card"]


class Paying:
    def __init__(self, trades: TradeService, cards: CardPayments) -> None:
        self.trades = trades
        self.cards = cards

    async def pay_trade(
        self,
        trade_no: str,
        buyer_user_id: int,
        *,
        funding: FundingSource = "wallet",
        card_id: int | None = None,
        pin: str | None = None,
        method: str = "wallet",
    ) -> PaymentResult:
        """Pay a waiting trade from the funding source the consumer chose."""
        try:
            if funding == "card" and card_id is not None:
                return await self.cards.pay(
                    trade_no, buyer_user_id, card_id, pin=pin, method=method
                )
            if funding != "wallet" or card_id is not None:
                raise InvalidRequest("funding is 'wallet', or 'card' with a card_id")
            trade = await self.trades.pay(trade_no, buyer_user_id, pin=pin, method=method)
            return PaymentResult("paid", trade)
        except TradePaid:
            trade = await self.trades.by_trade_no(trade_no)
            if trade.buyer_user_id != buyer_user_id:
                raise
            return PaymentResult("paid", trade)
