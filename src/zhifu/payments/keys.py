"""Where the idempotency keys of payments calls live (see zhifu.identity.keys).

A merchant's keys share one scope whatever the call, so one key names one request: a key
used for a refund and then for a cancel is refused. A buyer's keys have a scope of their
own. Business numbers (out_trade_no, out_request_no) dedupe on their own; a key binds
the HTTP call to the exact request it was first sent with.
"""

from __future__ import annotations


def merchant_scope(merchant_id: int) -> str:
    return f"payments:merchant:{merchant_id}"


def buyer_scope(user_id: int) -> str:
    return f"payments:user:{user_id}"
