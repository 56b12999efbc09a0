"""alipay.data.dataservice.bill.downloadurl.query: a short-lived link to a bill file.

`bill_type` is `trade` (the merchant's payments and refunds) or `signcustomer` (the
movements of its balance: payments less fees, refunds, payouts). `bill_date` is a past
business day `yyyy-MM-dd` or a past month `yyyy-MM`, in Asia/Shanghai; today, this month
or later are refused as Alipay refuses them (`isv.invalid_arguments`), and a period with
nothing in it answers `isp.bill_not_exist`, as Alipay does.

The link is `<where the request came in>/gateway/bills/<token>`. The token is 32 random
bytes, kept only as its SHA-256, bound to the merchant and the bill, and lives 30 minutes
by the injected clock (Alipay's live 30 seconds, which is hard on slow clients). The file
is built when it is downloaded, from the records of a period that no longer changes.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from zhifu.clock import BUSINESS_TIMEZONE, Clock, business_day
from zhifu.db.database import Conn, Database
from zhifu.errors import NotFound
from zhifu.openplatform.bill_files import Heading, account_bill, merchant_account, trade_bill
from zhifu.openplatform.errors import BUSINESS_FAILED, GatewayError
from zhifu.openplatform.fields import optional_text, success, text
from zhifu.openplatform.gateway import Call, Handler
from zhifu.reporting import BillService

LINK_LIFETIME = timedelta(minutes=30)
TRADE, ACCOUNT = "trade", "signcustomer"
DOWNLOAD_PATH = "gateway/bills/"
_DAY = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_MONTH = re.compile(r"([0-9]{4})-([0-9]{2})")


class BillLinkNotFound(NotFound):
    code = "bill_link_not_found"
    title = "Bill link unknown or expired"


def invalid_arguments(sub_msg: str) -> GatewayError:
    return GatewayError(BUSINESS_FAILED, "isv.invalid_arguments", sub_msg)


@dataclass(frozen=True, slots=True)
class BillPeriod:
    """A business day or a calendar month: [start, end) in Asia/Shanghai."""

    start: date
    end: date

    @property
    def label(self) -> str:
        return (
            f"{self.start:%Y%m%d}"
            if self.end - self.start == timedelta(days=1)
            else f"{self.start:%Y%m}"
        )

    @property
    def start_at(self) -> datetime:
        return datetime.combine(self.start, time(), BUSINESS_TIMEZONE)

    @property
    def end_at(self) -> datetime:
        return datetime.combine(self.end, time(), BUSINESS_TIMEZONE)


def bill_period(value: str, today: date) -> BillPeriod:
    """The period `bill_date` names; it must be over before `today` began."""
    try:
        if day := _DAY.fullmatch(value):
            start = date(*map(int, day.groups()))
            period = BillPeriod(start, start + timedelta(days=1))
        elif month := _MONTH.fullmatch(value):
            start = date(int(month.group(1)), int(month.group(2)), 1)
            following = (start + timedelta(days=31)).replace(day=1)
            period = BillPeriod(start, following)
        else:
            raise ValueError(value)
    except ValueError:
        raise invalid_arguments("bill_date must be a date yyyy-MM-dd or a month yyyy-MM") from None
    if period.end > today:
        raise invalid_arguments(
            "bills are ready once their period is over: ask for a day before today "
            "or a month before this one (Asia/Shanghai)"
        )
    return period


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class BillFile:
    filename: str
    content: bytes


class BillMethods:
    def __init__(self, db: Database, clock: Clock, bills: BillService) -> None:
        self.db = db
        self.clock = clock
        self.bills = bills

    def handlers(self) -> dict[str, Handler]:
        return {"alipay.data.dataservice.bill.downloadurl.query": self.download_url}

    async def download_url(self, call: Call) -> dict[str, Any]:
        bill_type = text(call.biz, "bill_type")
        if bill_type not in (TRADE, ACCOUNT):
            raise invalid_arguments("bill_type must be trade or signcustomer")
        if optional_text(call.biz, "smid") is not None:
            raise invalid_arguments("smid (bills of sub-merchants) is not supported")
        now = self.clock.now()
        period = bill_period(text(call.biz, "bill_date"), business_day(now))
        if not await self._has_lines(call.merchant_id, bill_type, period):
            raise GatewayError(
                BUSINESS_FAILED, "isp.bill_not_exist", "nothing happened in this period"
            )
        token = secrets.token_urlsafe(32)
        await self.db.transaction(
            lambda conn: self._remember(conn, token, call.merchant_id, bill_type, period, now)
        )
        return success(bill_download_url=f"{call.base_url.rstrip('/')}/{DOWNLOAD_PATH}{token}")

    async def _has_lines(self, merchant_id: int, bill_type: str, period: BillPeriod) -> bool:
        bills = self.bills
        has = bills.has_trade_lines if bill_type == TRADE else bills.has_account_lines
        return await has(merchant_id, period.start_at, period.end_at)

    async def _remember(
        self,
        conn: Conn,
        token: str,
        merchant_id: int,
        bill_type: str,
        period: BillPeriod,
        now: datetime,
    ) -> None:
        await conn.execute("delete from open_bill_download where expires_at <= %s", (now,))
        await conn.execute(
            """
            insert into open_bill_download (token_hash, merchant_id, bill_type, period_start,
                                            period_end, created_at, expires_at)
            values (%s, %s, %s, %s, %s, %s, %s)
            """,
            (
                _token_hash(token),
                merchant_id,
                bill_type,
                period.start,
                period.end,
                now,
                now + LINK_LIFETIME,
            ),
        )

    async def download(self, token: str) -> BillFile:
        """The file behind a live link; an unknown or expired one is BillLinkNotFound."""
        now = self.clock.now()
        link = await self.db.fetch_one(
            """
            select merchant_id, bill_type, period_start, period_end from open_bill_download
            where token_hash = %s and expires_at > %s
            """,
            (_token_hash(token), now),
        )
        if link is None:
            raise BillLinkNotFound("this bill link is unknown or has expired")
        merchant_id, period = (
            link["merchant_id"],
            BillPeriod(link["period_start"], link["period_end"]),
        )
        heading = Heading(
            account=merchant_account(merchant_id),
            label=period.label,
            start=period.start_at,
            end=period.end_at,
            exported_at=now,
        )
        bills = self.bills
        if link["bill_type"] == TRADE:
            lines = bills.trade_lines(merchant_id, period.start_at, period.end_at)
            content = await trade_bill(lines, heading)
        else:
            moves = bills.account_lines(merchant_id, period.start_at, period.end_at)
            content = await account_bill(moves, heading)
        return BillFile(heading.filename, content)
