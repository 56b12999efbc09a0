"""Ledger accounts: what kinds exist, opening them, their limits.

An account's identity (code, kind, currency, shard count) never changes once opened, so
it is cached per process; its limits (floor, cap, debit limits) may change and are read
fresh under the row lock by the engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from zhifu.db.database import Conn
from zhifu.errors import InvalidRequest, NotFound
from zhifu.money import check_currency


class Book(StrEnum):
    """Which money an account holds: real money, or sandbox money for developers'
    tests. An entry or a hold never joins accounts of two books."""

    LIVE = "live"
    SANDBOX = "sandbox"

    @classmethod
    def of(cls, sandbox: bool) -> Book:
        return cls.SANDBOX if sandbox else cls.LIVE


class AccountKind(StrEnum):
    USER_WALLET = "user_wallet"
    MERCHANT = "merchant"
    MERCHANT_PENDING = "merchant_pending"
    PLATFORM_REVENUE = "platform_revenue"
    BANK_CLEARING = "bank_clearing"
    SUSPENSE = "suspense"
    FX_CONVERSION = "fx_conversion"
    TEST = "test"


@dataclass(frozen=True, slots=True)
class AccountInfo:
    id: int
    code: str
    kind: str
    currency: str
    owner_id: int | None
    shards: int
    book: str = Book.LIVE


_COLUMNS = "id, code, kind, currency, owner_id, shards, book"
# Per database (a process may talk to several, as the tests do): accounts by id and
# by code. Only committed accounts are cached (see `_read`), so a rolled-back opening
# cannot leave a phantom behind.
_by_id: dict[tuple[str, int, str], dict[int, AccountInfo]] = {}
_by_code: dict[tuple[str, int, str], dict[str, AccountInfo]] = {}


def _database(conn: Conn) -> tuple[str, int, str]:
    info = conn.info
    return info.host, info.port, info.dbname


def _cache(conn: Conn) -> dict[int, AccountInfo]:
    return _by_id.setdefault(_database(conn), {})


def _remember(conn: Conn, info: AccountInfo) -> AccountInfo:
    _cache(conn)[info.id] = info
    _by_code.setdefault(_database(conn), {})[info.code] = info
    return info


async def load_accounts(conn: Conn, ids: set[int]) -> dict[int, AccountInfo]:
    cache = _cache(conn)
    found = {i: cache[i] for i in ids if i in cache}
    missing = [i for i in ids if i not in cache]
    if missing:
        for info in await _read(conn, "id = any(%s)", missing):
            found[info.id] = info
    return found


async def open_account(
    conn: Conn,
    code: str,
    kind: AccountKind | str,
    currency: str,
    *,
    owner_id: int | None = None,
    floor: int | None = 0,
    cap: int | None = None,
    shards: int = 1,
    book: Book = Book.LIVE,
) -> AccountInfo:
    """Open the account `code`, or return it if it exists (opening is idempotent)."""
    known = await find_account(conn, code)
    if known is not None:
        return known
    check_currency(currency)
    if not 1 <= shards <= 64:
        raise InvalidRequest("an account has between 1 and 64 shards")
    if shards > 1 and cap is not None:
        raise InvalidRequest("a sharded account cannot carry a balance cap")
    cur = await conn.execute(
        f"""
        insert into ledger_account (code, kind, currency, owner_id, floor, cap, shards, book)
        values (%s, %s, %s, %s, %s, %s, %s, %s)
        on conflict (code) do nothing
        returning {_COLUMNS}
        """,
        (code, str(kind), currency, owner_id, floor, cap, shards, str(book)),
    )
    row = await cur.fetchone()
    if row is None:
        return await account_by_code(conn, code)
    await conn.execute(
        "insert into ledger_balance (account_id, shard) select %s, generate_series(0, %s - 1)",
        (row["id"], shards),
    )
    return AccountInfo(**row)


async def find_account(conn: Conn, code: str) -> AccountInfo | None:
    """The account `code` if it is open (from the cache when it can be)."""
    return _by_code.get(_database(conn), {}).get(code) or await _find(conn, code)


async def _find(conn: Conn, code: str) -> AccountInfo | None:
    found = await _read(conn, "code = %s", code)
    return found[0] if found else None


async def _read(conn: Conn, where: str, param: object) -> list[AccountInfo]:
    """Accounts read from the database, each cached only if the transaction that opened
    it had finished before this one's snapshot: one still open (this very transaction,
    or one of its savepoints) may yet roll back and take the account with it."""
    cur = await conn.execute(
        f"""
        select {_COLUMNS},
               age(xmin) > age(pg_snapshot_xmin(pg_current_snapshot())::xid) as committed
        from ledger_account where {where}
        """,
        (param,),
    )
    found = []
    for row in await cur.fetchall():
        committed = row.pop("committed")
        info = AccountInfo(**row)
        found.append(_remember(conn, info) if committed else info)
    return found


async def account_by_code(conn: Conn, code: str) -> AccountInfo:
    found = await _find(conn, code)
    if found is None:
        raise NotFound("no such ledger account")
    return found


async def system_account(
    conn: Conn, kind: AccountKind, currency: str, *, shards: int = 1, book: Book = Book.LIVE
) -> AccountInfo:
    """The platform's own account of a kind in a currency and book, opened on first use.

    The shard count only matters the first time (an account's shards never change).
    Clearing, suspense and conversion accounts have no floor: they mirror money held
    outside zhifu, so they run negative when users hold money inside it.
    """
    prefix = "platform" if book is Book.LIVE else "sandbox:platform"
    floor = 0 if kind is AccountKind.PLATFORM_REVENUE else None
    return await open_account(
        conn, f"{prefix}:{kind}:{currency}", kind, currency, floor=floor, shards=shards, book=book
    )


async def book_of(conn: Conn, account_id: int) -> Book:
    """The book of an existing account (cached like the rest of its identity)."""
    found = await load_accounts(conn, {account_id})
    if account_id not in found:
        raise NotFound("no such ledger account", account_id=account_id)
    return Book(found[account_id].book)


async def set_limits(
    conn: Conn,
    account_id: int,
    *,
    cap: int | None,
    single_debit_limit: int | None,
    daily_debit_limit: int | None,
) -> None:
    """Change an account's limits (a KYC tier change); the engine reads them under lock."""
    cur = await conn.execute(
        """
        update ledger_account
        set cap = %s, single_debit_limit = %s, daily_debit_limit = %s
        where id = %s and (shards = 1 or %s::bigint is null)
        """,
        (cap, single_debit_limit, daily_debit_limit, account_id, cap),
    )
    if cur.rowcount != 1:
        raise NotFound("the ledger account does not exist or is sharded", account_id=account_id)
