from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zhifu.errors import InvalidStateTransition
from zhifu.payments.fees import refund_fee, trade_fee
from zhifu.payments.states import (
    ESCROW_TRANSITIONS,
    TRADE_TRANSITIONS,
    EscrowEvent,
    EscrowState,
    TradeEvent,
    TradeState,
    next_escrow_state,
    next_trade_state,
)


def test_every_illegal_trade_transition_is_an_error() -> None:
    for state, event in itertools.product(TradeState, TradeEvent):
        if (state, event) in TRADE_TRANSITIONS:
            assert next_trade_state(state, event) == TRADE_TRANSITIONS[(state, event)]
        else:
            with pytest.raises(InvalidStateTransition):
                next_trade_state(state, event)


def test_every_illegal_escrow_transition_is_an_error() -> None:
    for state, event in itertools.product(EscrowState, EscrowEvent):
        if (state, event) in ESCROW_TRANSITIONS:
            assert next_escrow_state(state, event) == ESCROW_TRANSITIONS[(state, event)]
        else:
            with pytest.raises(InvalidStateTransition):
                next_escrow_state(state, event)


def test_terminal_states_go_nowhere() -> None:
    for state in (TradeState.TRADE_FINISHED, TradeState.TRADE_CLOSED):
        assert not [key for key in TRADE_TRANSITIONS if key[0] == state]


def test_fee_rounds_half_up() -> None:
    assert trade_fee(10_000, 6_000) == 60  # 100.00 at 0.6% = 0.60
    assert trade_fee(250, 6_000) == 2  # 1.5 fen rounds up
    assert trade_fee(249, 6_000) == 1  # 1.494 rounds down
    assert trade_fee(1, 6_000) == 0


@given(
    amount=st.integers(1, 10**12),
    rate=st.integers(0, 100_000),
    cuts=st.lists(st.integers(1, 10**12), max_size=8),
)
def test_partial_refunds_return_exactly_the_fee(amount: int, rate: int, cuts: list[int]) -> None:
    fee = trade_fee(amount, rate)
    refunded, returned = 0, 0
    for cut in cuts:
        part = min(cut, amount - refunded)
        if part == 0:
            break
        piece = refund_fee(fee, amount, refunded, part)
        assert 0 <= piece <= fee
        refunded += part
        returned += piece
    last = amount - refunded
    if last:
        returned += refund_fee(fee, amount, refunded, last)
    assert returned == fee
