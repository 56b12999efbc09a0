"""Which app made a trade through the gateway, and what it asked for there.

A trade's Alipay notifications and return parameters name the app (`app_id`, and
`auth_app_id`: the merchant's own app when an ISV acts for it), go to the `notify_url`
of the request and carry its `passback_params`. The trade itself is payments' and knows
nothing of apps, so the open platform keeps this here, keyed like a trade by merchant and
out_trade_no.

The origin is written before the handler makes the trade, never after: a trade may be
paid in the very transaction that makes it (alipay.trade.pay), and its first event must
already find the app. The first request for an out_trade_no decides; if no trade came of
it, the origin is taken back.

Only what will be read is written: an origin for a request with a notify_url (its
notifications), and for the cashier's methods (their signed return). A trade made with
neither, the usual point-of-sale `alipay.trade.pay`, costs no extra write.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from zhifu.clock import Clock
from zhifu.db.database import Conn, Database
from zhifu.openplatform.gateway import Call, Handler
from zhifu.payments import TradeNotFound, TradeService

# The gateway methods that make a trade.
TRADE_MAKERS = frozenset(
    {
        "alipay.trade.precreate",
        "alipay.trade.pay",
        "alipay.trade.create",
        "alipay.trade.page.pay",
        "alipay.trade.wap.pay",
        "alipay.trade.app.pay",
    }
)
_COLUMNS = "merchant_id, out_trade_no, app_id, auth_app_id, method, notify_url, passback_params"


@dataclass(frozen=True, slots=True)
class Origin:
    merchant_id: int
    out_trade_no: str
    app_id: str
    auth_app_id: str
    method: str
    notify_url: str | None
    passback_params: str | None


def merchant_of(owner: str) -> int | None:
    """The merchant whose event this is: payments emit for `Merchant.owner`,
    "merchant:<id>"."""
    kind, _, number = owner.partition(":")
    return int(number) if kind == "merchant" and number.isdigit() else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


class TradeOrigins:
    def __init__(self, db: Database, clock: Clock, trades: TradeService) -> None:
        self.db = db
        self.clock = clock
        self.trades = trades

    def recording(
        self, handlers: dict[str, Handler], *, always: frozenset[str] = frozenset()
    ) -> dict[str, Handler]:
        """The handlers, those that make trades recording where each trade came from:
        the methods in `always` every time, the others when given a notify_url."""
        return {
            method: self._recorded(handler, always=method in always)
            if method in TRADE_MAKERS
            else handler
            for method, handler in handlers.items()
        }

    def _recorded(self, handler: Handler, *, always: bool) -> Handler:
        async def recorded(call: Call) -> dict[str, Any]:
            out_trade_no = _text(call.biz.get("out_trade_no"))
            notify_url = _text(call.params.get("notify_url"))
            if notify_url is not None:
                self.trades.destinations.check_url(notify_url, name="notify_url")
            wanted = always or notify_url is not None
            fresh = wanted and out_trade_no is not None and await self._record(call, out_trade_no)
            try:
                return await handler(call)
            except Exception:
                if fresh:
                    assert out_trade_no is not None
                    await self._forget_unless_made(call.merchant_id, out_trade_no)
                raise

        return recorded

    async def get(self, merchant_id: int, out_trade_no: str) -> Origin | None:
        row = await self.db.fetch_one(
            f"select {_COLUMNS} from open_trade_origin where merchant_id = %s"
            " and out_trade_no = %s",
            (merchant_id, out_trade_no),
        )
        return Origin(**row) if row else None

    async def notify_urls(self, conn: Conn, trades: list[tuple[int, str]]) -> list[str | None]:
        """For each (merchant, out_trade_no), the notify_url of its origin, if any."""
        cur = await conn.execute(
            """
            select o.notify_url
            from unnest(%s::bigint[], %s::text[]) with ordinality as t(merchant_id, out_trade_no, n)
            left join open_trade_origin o
                on o.merchant_id = t.merchant_id and o.out_trade_no = t.out_trade_no
            order by t.n
            """,
            ([merchant for merchant, _ in trades], [number for _, number in trades]),
        )
        return [row["notify_url"] for row in await cur.fetchall()]

    async def _record(self, call: Call, out_trade_no: str) -> bool:
        """Record the call as the trade's origin unless one is recorded; whether it was."""

        async def work(conn: Conn) -> bool:
            cur = await conn.execute(
                """
                insert into open_trade_origin (merchant_id, out_trade_no, app_id, auth_app_id,
                    method, notify_url, passback_params, created_at)
                values (%s, %s, %s, %s, %s, %s, %s, %s)
                on conflict (merchant_id, out_trade_no) do nothing
                """,
                (
                    call.merchant_id,
                    out_trade_no,
                    call.app.app_id,
                    await self._auth_app_id(conn, call),
                    call.params["method"],
                    _text(call.params.get("notify_url")),
                    _text(call.biz.get("passback_params")),
                    self.clock.now(),
                ),
            )
            return cur.rowcount == 1

        return await self.db.transaction(work)

    async def _auth_app_id(self, conn: Conn, call: Call) -> str:
        """The app's own id, or for an ISV acting for a merchant the authorisation's."""
        if call.acting_for is None:
            return call.app.app_id
        cur = await conn.execute(
            "select auth_app_id from app_authorisation where merchant_id = %s and app_id = %s",
            (call.acting_for, call.app.app_id),
        )
        row = await cur.fetchone()
        return str(row["auth_app_id"]) if row and row["auth_app_id"] else call.app.app_id

    async def _forget_unless_made(self, merchant_id: int, out_trade_no: str) -> None:
        try:
            await self.trades.get(merchant_id, out_trade_no=out_trade_no)
        except TradeNotFound:

            async def work(conn: Conn) -> None:
                await conn.execute(
                    "delete from open_trade_origin where merchant_id = %s and out_trade_no = %s",
                    (merchant_id, out_trade_no),
                )

            await self.db.transaction(work)
