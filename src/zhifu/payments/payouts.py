"""Payouts: a merchant pays a zhifu user from its balance (what Alipay calls a transfer,
alipay.fund.trans.uni.transfer).

The money comes from the merchant's balance the way a refund's does: pending settlement
first, then available, and neither may go below zero. The ledger entry (kind `payout`,
shown on the user's statement with the merchant's remark) and the payout row commit
together. `out_biz_no`, the merchant's own number for the payout, unique per merchant,
decides whether money moves: the same number again with the same payee and amount
returns the first payout; with another payee or amount it is refused.

A merchant's payouts are decided one at a time (its merchant row is locked for the
transaction), so each splits its amount between pending and available on balances no
other payout is changing: concurrent payouts never overdraw, and never refuse one the
balance covers. A refund racing a payout can still leave the split stale; the ledger then
refuses the payout rather than overdraw.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from datetime import datetime

from zhifu.clock import Clock, business_day
from zhifu.db import idempotency
from zhifu.db.database import Conn, Database
from zhifu.errors import Conflict, InsufficientFunds, InvalidRequest, NotFound, RecipientNotFound
from zhifu.identity import wallet_account
from zhifu.merchants import merchant_debit
from zhifu.money import check_currency, check_minor
from zhifu.payments import postings
from zhifu.payments.errors import MerchantInsufficientFunds

SUCCESS = "SUCCESS"
# Alipay's order numbers are 32 digits; zhifu's are the business day, a mark for the
# kind of number, and the payout's (or its ledger entry's) id.
ORDER_MARK = "0110"
FUND_ORDER_MARK = "0111"
_OUT_BIZ_NO = re.compile(r"[A-Za-z0-9_-]{1,64}")
TITLE_MAX = 128
REMARK_MAX = 200


class PayoutExists(Conflict):
    code = "payout_exists"
    title = "out_biz_no already used for another payout"


class PayoutNotFound(NotFound):
    code = "payout_not_found"
    title = "Payout not found"


@dataclass(frozen=True, slots=True)
class Payout:
    id: int
    merchant_id: int
    out_biz_no: str
    order_id: str
    pay_fund_order_id: str
    user_id: int
    amount: int
    currency: str
    title: str
    remark: str
    status: str
    entry_id: int
    created_at: datetime


COLUMNS = ", ".join(f.name for f in fields(Payout))


def _check_text(value: str, name: str, longest: int) -> str:
    if not isinstance(value, str) or len(value) > longest or not value.isprintable():
        raise InvalidRequest(f"{name} has at most {longest} printable characters")
    return value


@dataclass(frozen=True, slots=True)
class NewPayout:
    """What a merchant asks for: pay `amount` to user `user_id`, numbered `out_biz_no`."""

    out_biz_no: str
    user_id: int
    amount: int
    currency: str = "CNY"
    title: str = ""
    remark: str = ""

    def checked(self) -> NewPayout:
        if not isinstance(self.out_biz_no, str) or not _OUT_BIZ_NO.fullmatch(self.out_biz_no):
            raise InvalidRequest("out_biz_no has 1 to 64 letters, digits, '-' or '_'")
        check_minor(self.amount)
        check_currency(self.currency)
        _check_text(self.title, "title", TITLE_MAX)
        _check_text(self.remark, "remark", REMARK_MAX)
        return self

    def fingerprint(self) -> str:
        """What must match when out_biz_no is sent again: the payee and the money."""
        return idempotency.request_hash(
            {"user_id": self.user_id, "amount": self.amount, "currency": self.currency}
        )

    @property
    def memo(self) -> str:
        """What the payee reads on their statement."""
        return self.remark or self.title


def _number(moment: datetime, mark: str, serial: int) -> str:
    return f"{business_day(moment):%Y%m%d}{mark}{serial:020d}"


class PayoutService:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    async def pay(self, merchant_id: int, request: NewPayout) -> Payout:
        """Pay a user from the merchant's balance, once per out_biz_no."""
        request = request.checked()
        return await self.db.transaction(lambda conn: self._pay_in(conn, merchant_id, request))

    async def _pay_in(self, conn: Conn, merchant_id: int, request: NewPayout) -> Payout:
        merchant_name = await _lock_merchant(conn, merchant_id)
        earlier = await self._earlier(conn, merchant_id, request)
        if earlier is not None:
            return earlier
        cur = await conn.execute("select nextval('payout_id_seq') as id")
        row = await cur.fetchone()
        assert row is not None
        now = self.clock.now()
        order_id = _number(now, ORDER_MARK, row["id"])
        entry_id = await self._move(conn, merchant_id, merchant_name, request, order_id)
        cur = await conn.execute(
            f"""
            insert into payout (id, merchant_id, out_biz_no, request_hash, order_id,
                pay_fund_order_id, user_id, amount, currency, title, remark, status,
                entry_id, created_at)
            values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
            returning {COLUMNS}
            """,
            (
                row["id"],
                merchant_id,
                request.out_biz_no,
                request.fingerprint(),
                order_id,
                _number(now, FUND_ORDER_MARK, entry_id),
                request.user_id,
                request.amount,
                request.currency,
                request.title,
                request.remark,
                SUCCESS,
                entry_id,
                now,
            ),
        )
        made = await cur.fetchone()
        assert made is not None
        return Payout(**made)

    async def _earlier(self, conn: Conn, merchant_id: int, request: NewPayout) -> Payout | None:
        cur = await conn.execute(
            f"""
            select {COLUMNS}, request_hash from payout
            where merchant_id = %s and out_biz_no = %s
            """,
            (merchant_id, request.out_biz_no),
        )
        row = await cur.fetchone()
        if row is None:
            return None
        if row.pop("request_hash") != request.fingerprint():
            raise PayoutExists(
                "this out_biz_no was already used for a payout to another payee or amount",
                out_biz_no=request.out_biz_no,
            )
        return Payout(**row)

    async def _move(
        self, conn: Conn, merchant_id: int, merchant_name: str, request: NewPayout, order_id: str
    ) -> int:
        """Merchant (pending first, then available) -> the user's wallet."""
        currency, amount = request.currency, request.amount
        try:
            wallet = await wallet_account(conn, request.user_id, currency)
        except NotFound:
            raise RecipientNotFound("no user to pay", user_id=request.user_id) from None
        debit = await merchant_debit(conn, merchant_id, currency, amount)
        description = f"payout from {merchant_name}"
        entry = postings.payout(
            wallet=wallet,
            merchant_legs=debit.legs,
            amount=amount,
            currency=currency,
            description=description,
            metadata={
                "merchant_id": merchant_id,
                "out_biz_no": request.out_biz_no,
                "order_id": order_id,
                "memo": request.memo or description,
            },
        )
        try:
            return int((await postings.apply_one(conn, entry, self.clock.now()))["entry_id"])
        except InsufficientFunds as error:
            if debit.refused(error):
                raise MerchantInsufficientFunds(
                    "the merchant's balance cannot cover this payout", available=debit.balance
                ) from error
            raise

    async def get(
        self, merchant_id: int, *, out_biz_no: str | None = None, order_id: str | None = None
    ) -> Payout:
        """The merchant's payout by its number or zhifu's; another merchant's is not found."""
        if out_biz_no is None and order_id is None:
            raise InvalidRequest("give out_biz_no or order_id")
        rows = await self.db.fetch_all(
            f"""
            select {COLUMNS} from payout
            where merchant_id = %(merchant)s
              and (%(out)s::text is null or out_biz_no = %(out)s)
              and (%(order)s::text is null or order_id = %(order)s)
            """,
            {"merchant": merchant_id, "out": out_biz_no, "order": order_id},
        )
        if len(rows) != 1:
            raise PayoutNotFound("no such payout", out_biz_no=out_biz_no, order_id=order_id)
        return Payout(**rows[0])


async def _lock_merchant(conn: Conn, merchant_id: int) -> str:
    """Lock the merchant for this transaction (its payouts queue here) and return its
    name. `no key update` leaves trades free to reference the merchant meanwhile."""
    cur = await conn.execute(
        "select name from merchant where id = %s for no key update", (merchant_id,)
    )
    row = await cur.fetchone()
    if row is None:
        raise NotFound(f"merchant {merchant_id} does not exist")
    return str(row["name"])
