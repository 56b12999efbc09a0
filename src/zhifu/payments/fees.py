"""The merchant discount rate and how refunds return it.

Rates are integers in parts per million (0.6% = 6,000 ppm) so no float touches money.
A trade's fee is the rate applied to its amount, rounded half up to the minor unit.

Refund policy: the fee is returned in proportion to what is refunded, computed on the
cumulative refunded amount, so the refunds of a trade always return exactly its fee when
the trade is refunded in full, whatever the number and size of the partial refunds:
    fee_returned(refund) = prorate(fee, refunded_after) - prorate(fee, refunded_before)
"""

from __future__ import annotations

from zhifu.merchants import PPM


def _divide_half_up(numerator: int, denominator: int) -> int:
    return (2 * numerator + denominator) // (2 * denominator)


def trade_fee(amount: int, rate_ppm: int) -> int:
    return _divide_half_up(amount * rate_ppm, PPM)


def prorate(fee: int, part: int, whole: int) -> int:
    return _divide_half_up(fee * part, whole)


def refund_fee(fee: int, amount: int, refunded_before: int, refund: int) -> int:
    """The part of `fee` a refund of `refund` returns, given what was refunded before."""
    return prorate(fee, refunded_before + refund, amount) - prorate(fee, refunded_before, amount)
