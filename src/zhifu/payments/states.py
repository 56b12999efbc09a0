"""The state machines of trades and escrow, as transition tables.

A trade (Alipay's names): WAIT_BUYER_PAY -> TRADE_SUCCESS -> TRADE_FINISHED, or
-> TRADE_CLOSED (unpaid at expiry, closed by the merchant, or fully refunded). A paid trade
becomes TRADE_FINISHED when its refund window ends. Anything else is an error.

An escrow (guaranteed) trade also walks: PAID -> SHIPPED -> CONFIRMED (by the buyer or by
the timeout), or a refund request: REFUND_REQUESTED -> REFUNDED (seller agrees) or
DISPUTED (seller refuses) -> REFUNDED / CONFIRMED (an operator decides).
"""

from __future__ import annotations

from enum import StrEnum

from zhifu.states import transition


class TradeState(StrEnum):
    WAIT_BUYER_PAY = "WAIT_BUYER_PAY"
    TRADE_SUCCESS = "TRADE_SUCCESS"
    TRADE_FINISHED = "TRADE_FINISHED"
    TRADE_CLOSED = "TRADE_CLOSED"


class TradeEvent(StrEnum):
    PAY = "pay"
    EXPIRE = "expire"
    CLOSE = "close"
    REFUND_ALL = "refund_all"
    END_REFUND_WINDOW = "end_refund_window"


TRADE_TRANSITIONS: dict[tuple[TradeState, TradeEvent], TradeState] = {
    (TradeState.WAIT_BUYER_PAY, TradeEvent.PAY): TradeState.TRADE_SUCCESS,
    (TradeState.WAIT_BUYER_PAY, TradeEvent.EXPIRE): TradeState.TRADE_CLOSED,
    (TradeState.WAIT_BUYER_PAY, TradeEvent.CLOSE): TradeState.TRADE_CLOSED,
    (TradeState.TRADE_SUCCESS, TradeEvent.REFUND_ALL): TradeState.TRADE_CLOSED,
    (TradeState.TRADE_SUCCESS, TradeEvent.END_REFUND_WINDOW): TradeState.TRADE_FINISHED,
}


class EscrowState(StrEnum):
    PAID = "PAID"
    SHIPPED = "SHIPPED"
    CONFIRMED = "CONFIRMED"
    REFUND_REQUESTED = "REFUND_REQUESTED"
    DISPUTED = "DISPUTED"
    REFUNDED = "REFUNDED"


class EscrowEvent(StrEnum):
    SHIP = "ship"
    CONFIRM = "confirm"
    AUTO_CONFIRM = "auto_confirm"
    REQUEST_REFUND = "request_refund"
    AGREE_REFUND = "agree_refund"
    REFUSE_REFUND = "refuse_refund"
    RULE_FOR_BUYER = "rule_for_buyer"
    RULE_FOR_SELLER = "rule_for_seller"


ESCROW_TRANSITIONS: dict[tuple[EscrowState, EscrowEvent], EscrowState] = {
    (EscrowState.PAID, EscrowEvent.SHIP): EscrowState.SHIPPED,
    (EscrowState.PAID, EscrowEvent.CONFIRM): EscrowState.CONFIRMED,
    (EscrowState.PAID, EscrowEvent.AUTO_CONFIRM): EscrowState.CONFIRMED,
    (EscrowState.PAID, EscrowEvent.REQUEST_REFUND): EscrowState.REFUND_REQUESTED,
    (EscrowState.SHIPPED, EscrowEvent.CONFIRM): EscrowState.CONFIRMED,
    (EscrowState.SHIPPED, EscrowEvent.AUTO_CONFIRM): EscrowState.CONFIRMED,
    (EscrowState.SHIPPED, EscrowEvent.REQUEST_REFUND): EscrowState.REFUND_REQUESTED,
    (EscrowState.REFUND_REQUESTED, EscrowEvent.AGREE_REFUND): EscrowState.REFUNDED,
    (EscrowState.REFUND_REQUESTED, EscrowEvent.REFUSE_REFUND): EscrowState.DISPUTED,
    (EscrowState.DISPUTED, EscrowEvent.RULE_FOR_BUYER): EscrowState.REFUNDED,
    (EscrowState.DISPUTED, EscrowEvent.RULE_FOR_SELLER): EscrowState.CONFIRMED,
}


def next_trade_state(state: TradeState, event: TradeEvent) -> TradeState:
    return transition(TRADE_TRANSITIONS, state, event, "a trade")


def next_escrow_state(state: EscrowState, event: EscrowEvent) -> EscrowState:
    return transition(ESCROW_TRANSITIONS, state, event, "an escrow")


# Every type of event payments emit: the escrow ones name the escrow state reached
# (a guaranteed trade reaches PAID with `trade.paid`).
EVENT_TYPES: frozenset[str] = frozenset(
    {"trade.paid", "trade.closed", "trade.refunded", "trade.finished"}
    | {f"trade.escrow.{state.lower()}" for state in EscrowState if state != EscrowState.PAID}
)
