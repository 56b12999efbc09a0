"""The funding order's state machine and bank references, as plain functions."""

from __future__ import annotations

import pytest

from zhifu.errors import InvalidStateTransition
from zhifu.funding.orders import (
    ORDER_TRANSITIONS,
    OrderEvent,
    OrderState,
    next_state,
    order_id_of,
    order_reference,
)


def test_a_pending_order_ends_once() -> None:
    assert next_state(OrderState.PENDING, OrderEvent.BANK_SUCCEEDED) is OrderState.SUCCEEDED
    assert next_state(OrderState.PENDING, OrderEvent.BANK_DECLINED) is OrderState.FAILED
    assert next_state(OrderState.PENDING, OrderEvent.BOOKING_REFUSED) is OrderState.REVIEW


@pytest.mark.parametrize(
    ("state", "event"),
    [
        (state, event)
        for state in OrderState
        for event in OrderEvent
        if (state, event) not in ORDER_TRANSITIONS
    ],
)
def test_every_other_transition_is_refused(state: OrderState, event: OrderEvent) -> None:
    with pytest.raises(InvalidStateTransition):
        next_state(state, event)


def test_references_name_orders() -> None:
    assert order_reference(42) == "fo_42"
    assert order_id_of("fo_42") == 42
    for foreign in ("42", "fo_", "fo_-1", "fo_4x", "fo_٤٢", "fo_" + "9" * 19, "tr_42"):
        assert order_id_of(foreign) is None
