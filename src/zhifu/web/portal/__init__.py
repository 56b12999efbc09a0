"""The merchant portal, a desktop web app under /merchant (see docs/web.md).

    /merchant/login, /logout              staff sign-in (PortalLogins), a session cookie
    /merchant/                            today's takings, the last 30 days, balances
    /merchant/cashier                     a sale: amount -> QR code -> paid, live
    /merchant/trades, /trades/{trade_no}  search and filters; one trade, its history,
                                          refunds in part or whole (confirmed)
    /merchant/stores                      stores, terminals, each store's static QR code
    /merchant/keys                        API keys: create (shown once), revoke
    /merchant/webhooks                    the endpoint; deliveries, their attempts, resend
    /merchant/settlement                  balances and the settlement bank account

Pages call the same services as the REST API, scoped to the signed-in merchant;
nothing here moves money by itself.
"""

from __future__ import annotations

from fastapi import APIRouter

from zhifu.web.portal import (
    account,
    cashier,
    developers,
    settlement,
    stores,
    trades,
)
from zhifu.web.portal.common import PREFIX

router = APIRouter(tags=["merchant-portal"], include_in_schema=False)
for part in (
    account.router,
    cashier.router,
    trades.router,
    stores.router,
    developers.router,
    settlement.router,
):
    router.include_router(part, prefix=PREFIX)
