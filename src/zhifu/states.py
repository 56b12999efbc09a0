"""Explicit state machines: a transition table, and one way to step through it.

Each machine (trades, escrow, funding orders, ...) is a dict from (state, event) to the
next state; anything not in it is an illegal transition and a clear error.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import TypeVar

from zhifu.errors import InvalidStateTransition

S = TypeVar("S", bound=StrEnum)
E = TypeVar("E", bound=StrEnum)


def transition(table: Mapping[tuple[S, E], S], state: S, event: E, subject: str) -> S:
    """The state `event` moves `subject` to from `state`, or InvalidStateTransition."""
    try:
        return table[(state, event)]
    except KeyError:
        raise InvalidStateTransition(
            f"{subject} in {state} cannot {event.replace('_', ' ')}",
            state=str(state),
            event=str(event),
        ) from None
