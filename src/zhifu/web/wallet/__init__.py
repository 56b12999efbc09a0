"""The consumer wallet, a mobile-first web app under /wallet (see docs/web.md).

    /wallet/signup, /login, /logout    an account, a session
    /wallet/                           balance, what waits for me, recent activity
    /wallet/cards                      link and unlink cards and bank accounts
    /wallet/topup, /withdraw           between a card and the wallet
    /wallet/transfer                   to a phone number; /transfers/{id} the receipt
    /wallet/scan                       a merchant's QR code: pasted, or a picture of it
    /wallet/trades/{trade_no}          a payment: pay it, confirm receipt, ask a refund
    /wallet/escrow                     guaranteed orders
    /wallet/paycode                    my payment code (barcode and QR), fresh every minute
    /wallet/bills, /bills/{entry_id}   movements with filters, one movement
    /wallet/statement.csv              the statement as CSV

Pages call the same services as the REST API; nothing here moves money by itself.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import RedirectResponse

from zhifu.web.kit.session import see_other
from zhifu.web.wallet import account, bills, money, paying
from zhifu.web.wallet.common import HOME, PREFIX

router = APIRouter(prefix=PREFIX, tags=["wallet-web"], include_in_schema=False)
for part in (account.router, money.router, paying.router, bills.router):
    router.include_router(part)


@router.get("")
async def wallet_root() -> RedirectResponse:
    return see_other(HOME)
