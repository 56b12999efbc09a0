"""`verify` really detects each kind of breach, and the database refuses the worst ones itself.

Tampering runs on a fresh database of its own (created on the same server as `db`), so the
shared database that other tests verify is never touched. Each tamper is undone before the
test ends, and the ledger verifies clean again.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from psycopg import errors as pg_errors

from tests.conftest import private_database
from zhifu.clock import ManualClock
from zhifu.db import Database
from zhifu.db.database import Conn
from zhifu.ledger import AccountKind, CreateHold, Ledger, PostHold, open_account, transfer
from zhifu.ledger.invariants import CHECKS

CACHED = "every cached balance equals the sum of its postings"
PENDING = "pending balances equal the open holds"
BALANCED = "every entry balances per currency"
TWO_POSTINGS = "every entry has at least two postings"
CURRENCY = "every posting is in its account's currency"
HOLDS = "holds are consistent with their entries"
FLOOR = "no account is below its floor"
SHARDS = "every account has all its balance shards"
ZERO_SUM = "all accounts sum to zero per book and currency"
BOOKS = "no entry joins live and sandbox accounts"
HOLD_BOOKS = "no hold joins live and sandbox accounts"


@pytest.fixture(scope="module")
async def fresh(database_url: str) -> AsyncIterator[Database]:
    async with private_database(database_url, max_size=4) as database:
        yield database


@pytest.fixture(scope="module")
async def world(fresh: Database) -> dict[str, int]:
    """A small, consistent ledger: transfers, a sharded account, a pending and a posted hold."""
    ledger = Ledger(fresh, ManualClock())

    async def account(currency: str = "CNY", **options: Any) -> int:
        code = f"verify:{uuid.uuid4().hex}"
        info = await fresh.transaction(
            lambda conn: open_account(conn, code, AccountKind.TEST, currency, **options)
        )
        return info.id

    bank = await account(floor=None)
    a, b = await account(), await account()
    hot = await account(shards=4)
    usd = await account("USD")
    usd_bank = await account("USD", floor=None)
    await ledger.execute(transfer(bank, a, 10_000, "CNY"))
    await ledger.execute(transfer(a, b, 2_500, "CNY"))
    await ledger.execute(transfer(a, hot, 1_000, "CNY"))
    await ledger.execute(transfer(hot, b, 300, "CNY"))
    await ledger.execute(transfer(usd_bank, usd, 700, "USD"))
    pending = (await ledger.execute(CreateHold(a, b, 400, "CNY")))["hold_id"]
    posted = (await ledger.execute(CreateHold(b, hot, 600, "CNY")))["hold_id"]
    await ledger.execute(PostHold(posted, amount=450))
    await ledger.close()
    report = await ledger.verify()
    assert report.ok, report.breaches
    return {
        "bank": bank,
        "a": a,
        "b": b,
        "hot": hot,
        "usd": usd,
        "pending_hold": pending,
        "posted_hold": posted,
    }


async def breaches(db: Database) -> dict[str, list[dict[str, Any]]]:
    report = await Ledger(db, ManualClock()).verify()
    return report.breaches


async def tamper(db: Database, sql: str, params: Any = None, *, replica: bool = False) -> None:
    """Run `sql` (statements separated by ';') in one transaction; `replica` switches off
    the ledger's triggers and foreign keys for it."""

    async def work(conn: Conn) -> None:
        if replica:
            await conn.execute("set local session_replication_role = replica")
        for statement in filter(str.strip, sql.split(";")):
            await conn.execute(statement, params)

    await db.transaction(work)


async def expect_breach(
    db: Database,
    check: str,
    *,
    only: bool = True,
    mentions: dict[str, int] | None = None,
) -> None:
    found = await breaches(db)
    assert check in found, found
    if only:
        assert set(found) == {check}, found
    if mentions:
        rows = found[check]
        assert any(all(row.get(k) == str(v) for k, v in mentions.items()) for row in rows), rows


async def assert_clean(db: Database) -> None:
    assert await breaches(db) == {}


async def test_a_consistent_ledger_verifies(fresh: Database, world: dict[str, int]) -> None:
    report = await Ledger(fresh, ManualClock()).verify()
    assert report.ok
    assert report.counts["ledger_hold"] == 2
    assert report.counts["ledger_posting"] == 2 * report.counts["ledger_entry"]
    assert report.to_dict()["checks"] == list(CHECKS)
    assert report.to_dict()["ok"] is True


async def test_detects_a_tampered_cached_balance(fresh: Database, world: dict[str, int]) -> None:
    a = world["a"]
    await tamper(fresh, "update ledger_balance set posted = posted + 1 where account_id = %s", (a,))
    found = await breaches(fresh)
    assert set(found) == {CACHED, ZERO_SUM}, found
    assert found[CACHED][0]["account_id"] == str(a)
    await tamper(fresh, "update ledger_balance set posted = posted - 1 where account_id = %s", (a,))
    await assert_clean(fresh)


async def test_detects_a_tampered_shard_of_a_sharded_account(
    fresh: Database, world: dict[str, int]
) -> None:
    hot = world["hot"]
    # moving money between shards of one account is invisible: the account's sum holds
    await tamper(
        fresh,
        "update ledger_balance set posted = posted + case shard when 0 then 5 when 3 then -5 end"
        " where account_id = %s and shard in (0, 3)",
        (hot,),
    )
    await assert_clean(fresh)
    await tamper(
        fresh,
        "update ledger_balance set posted = posted - 7 where account_id = %s and shard = 2",
        (hot,),
    )
    found = await breaches(fresh)
    assert CACHED in found
    assert found[CACHED][0]["account_id"] == str(hot)
    await tamper(
        fresh,
        "update ledger_balance set posted = posted + case shard when 0 then -5 when 3 then 5"
        " else 7 end where account_id = %s and shard in (0, 2, 3)",
        (hot,),
    )
    await assert_clean(fresh)


@pytest.mark.parametrize("column", ["pending_out", "pending_in"])
async def test_detects_pending_that_no_hold_explains(
    fresh: Database, world: dict[str, int], column: str
) -> None:
    b = world["b"]
    sql = f"update ledger_balance set {column} = {column} + %s where account_id = %s"
    await tamper(fresh, sql, (5, b))
    await expect_breach(fresh, PENDING, mentions={"account_id": b})
    await tamper(fresh, sql, (-5, b))
    await assert_clean(fresh)


async def test_detects_a_released_hold_whose_pending_stays(
    fresh: Database, world: dict[str, int]
) -> None:
    hold = world["pending_hold"]
    await tamper(fresh, "update ledger_hold set state = 'voided' where id = %s", (hold,))
    found = await breaches(fresh)
    assert set(found) == {PENDING}, found
    # both sides of the hold are reported
    assert {row["account_id"] for row in found[PENDING]} == {str(world["a"]), str(world["b"])}
    await tamper(fresh, "update ledger_hold set state = 'pending' where id = %s", (hold,))
    await assert_clean(fresh)


async def test_detects_holds_inconsistent_with_their_entries(
    fresh: Database, world: dict[str, int]
) -> None:
    posted = world["posted_hold"]
    await tamper(
        fresh, "update ledger_hold set posted_amount = posted_amount - 1 where id = %s", (posted,)
    )
    await expect_breach(fresh, HOLDS, mentions={"hold_id": posted})
    await tamper(
        fresh, "update ledger_hold set posted_amount = posted_amount + 1 where id = %s", (posted,)
    )
    await assert_clean(fresh)

    entry_id = await fresh.fetch_one("select entry_id from ledger_hold where id = %s", (posted,))
    assert entry_id is not None
    await tamper(fresh, "update ledger_hold set entry_id = null where id = %s", (posted,))
    await expect_breach(fresh, HOLDS, mentions={"hold_id": posted})
    await tamper(
        fresh, "update ledger_hold set entry_id = %s where id = %s", (entry_id["entry_id"], posted)
    )
    await assert_clean(fresh)


async def test_detects_an_unbalanced_entry(fresh: Database, world: dict[str, int]) -> None:
    a = world["a"]
    row = await fresh.fetch_one(
        "select entry_id from ledger_posting where account_id = %s order by id limit 1", (a,)
    )
    assert row is not None
    entry_id = row["entry_id"]
    # an extra leg on an existing entry, with the cached balance kept in step: only the
    # entry (and so the whole currency) is out of balance
    await tamper(
        fresh,
        """
        insert into ledger_posting (entry_id, account_id, currency, amount, created_at)
        values (%(e)s, %(a)s, 'CNY', 1, now());
        update ledger_balance set posted = posted + 1 where account_id = %(a)s and shard = 0;
        """,
        {"e": entry_id, "a": a},
        replica=True,
    )
    found = await breaches(fresh)
    assert set(found) == {BALANCED, ZERO_SUM}, found
    assert found[BALANCED][0]["entry_id"] == str(entry_id)
    assert found[BALANCED][0]["total"] == "1"
    await tamper(
        fresh,
        """
        delete from ledger_posting where id = (select max(id) from ledger_posting
                                                where entry_id = %(e)s and amount = 1);
        update ledger_balance set posted = posted - 1 where account_id = %(a)s and shard = 0;
        """,
        {"e": entry_id, "a": a},
        replica=True,
    )
    await assert_clean(fresh)


async def test_detects_an_entry_without_postings(fresh: Database, world: dict[str, int]) -> None:
    row = await fresh.fetch_one(
        "insert into ledger_entry (kind, created_at) values ('orphan', now()) returning id"
    )
    assert row is not None
    await expect_breach(fresh, TWO_POSTINGS, mentions={"entry_id": row["id"]})
    await tamper(fresh, "delete from ledger_entry where id = %s", (row["id"],), replica=True)
    await assert_clean(fresh)


async def test_detects_a_posting_in_a_foreign_currency(
    fresh: Database, world: dict[str, int]
) -> None:
    a, b = world["a"], world["b"]
    # a balanced USD entry between two CNY accounts, with their cached balances in step
    await tamper(
        fresh,
        """
        with e as (insert into ledger_entry (kind, created_at) values ('bad fx', now())
                   returning id)
        insert into ledger_posting (entry_id, account_id, currency, amount, created_at)
        select e.id, v.account_id, 'USD', v.amount, now()
        from e, (values (%(a)s::bigint, -3::bigint), (%(b)s, 3)) as v(account_id, amount);
        update ledger_balance set posted = posted - 3 where account_id = %(a)s and shard = 0;
        update ledger_balance set posted = posted + 3 where account_id = %(b)s and shard = 0;
        """,
        {"a": a, "b": b},
        replica=True,
    )
    found = await breaches(fresh)
    assert set(found) == {CURRENCY}, found
    assert {r["currency"] for r in found[CURRENCY]} == {"USD"}
    assert {r["account_currency"] for r in found[CURRENCY]} == {"CNY"}
    await tamper(
        fresh,
        """
        delete from ledger_posting where entry_id =
            (select id from ledger_entry where kind = 'bad fx');
        delete from ledger_entry where kind = 'bad fx';
        update ledger_balance set posted = posted + 3 where account_id = %(a)s and shard = 0;
        update ledger_balance set posted = posted - 3 where account_id = %(b)s and shard = 0;
        """,
        {"a": a, "b": b},
        replica=True,
    )
    await assert_clean(fresh)


async def test_detects_an_account_below_its_floor(fresh: Database, world: dict[str, int]) -> None:
    b = world["b"]
    await tamper(fresh, "update ledger_account set floor = 1000000 where id = %s", (b,))
    await expect_breach(fresh, FLOOR, mentions={"account_id": b})
    await tamper(fresh, "update ledger_account set floor = 0 where id = %s", (b,))
    await assert_clean(fresh)


async def test_detects_missing_or_extra_balance_shards(
    fresh: Database, world: dict[str, int]
) -> None:
    hot = world["hot"]
    await tamper(fresh, "insert into ledger_balance (account_id, shard) values (%s, 4)", (hot,))
    await expect_breach(fresh, SHARDS, mentions={"account_id": hot})
    await tamper(fresh, "delete from ledger_balance where account_id = %s and shard = 4", (hot,))
    await assert_clean(fresh)

    a = world["a"]
    await tamper(fresh, "update ledger_account set shards = 2 where id = %s", (a,))
    await expect_breach(fresh, SHARDS, mentions={"account_id": a})
    await tamper(fresh, "update ledger_account set shards = 1 where id = %s", (a,))
    await assert_clean(fresh)


async def test_reports_every_breach_at_once(fresh: Database, world: dict[str, int]) -> None:
    a, b = world["a"], world["b"]
    await tamper(fresh, "update ledger_balance set posted = posted + 1 where account_id = %s", (a,))
    await tamper(
        fresh, "update ledger_balance set pending_in = pending_in + 1 where account_id = %s", (b,)
    )
    report = await Ledger(fresh, ManualClock()).verify()
    assert not report.ok
    assert {CACHED, ZERO_SUM, PENDING} <= set(report.breaches)
    assert report.to_dict()["ok"] is False
    await tamper(fresh, "update ledger_balance set posted = posted - 1 where account_id = %s", (a,))
    await tamper(
        fresh, "update ledger_balance set pending_in = pending_in - 1 where account_id = %s", (b,)
    )
    await assert_clean(fresh)


# The database's own guards, which hold even against code that bypasses the engine.


async def refused(
    db: Database, error: type[Exception], work: Callable[[Conn], Awaitable[Any]]
) -> str:
    with pytest.raises(error) as info:
        async with db.connection() as conn, conn.transaction():
            await work(conn)
    return str(info.value)


async def new_entry(conn: Conn) -> int:
    cur = await conn.execute(
        "insert into ledger_entry (kind, created_at) values ('direct', now()) returning id"
    )
    row = await cur.fetchone()
    assert row is not None
    return int(row["id"])


async def insert_postings(conn: Conn, rows: list[tuple[int, int, str, int]]) -> None:
    await conn.execute(
        """
        insert into ledger_posting (entry_id, account_id, currency, amount, created_at)
        select e, a, c, m, now() from unnest(%s::bigint[], %s::bigint[], %s::text[], %s::bigint[])
          as t(e, a, c, m)
        """,
        [list(column) for column in zip(*rows, strict=True)],
    )


async def test_database_refuses_an_unbalanced_entry(fresh: Database, world: dict[str, int]) -> None:
    a, b, usd = world["a"], world["b"], world["usd"]

    async def off_by_one(conn: Conn) -> None:
        e = await new_entry(conn)
        await insert_postings(conn, [(e, a, "CNY", -100), (e, b, "CNY", 99)])

    message = await refused(fresh, pg_errors.CheckViolation, off_by_one)
    assert "unbalanced" in message

    async def one_leg_per_statement(conn: Conn) -> None:
        e = await new_entry(conn)
        await insert_postings(conn, [(e, a, "CNY", -100)])
        await insert_postings(conn, [(e, b, "CNY", 100)])

    await refused(fresh, pg_errors.CheckViolation, one_leg_per_statement)

    async def two_entries_that_only_net_out_together(conn: Conn) -> None:
        e1, e2 = await new_entry(conn), await new_entry(conn)
        await insert_postings(conn, [(e1, a, "CNY", -100), (e2, b, "CNY", 100)])

    await refused(fresh, pg_errors.CheckViolation, two_entries_that_only_net_out_together)

    async def across_currencies(conn: Conn) -> None:
        e = await new_entry(conn)
        await insert_postings(conn, [(e, a, "CNY", -100), (e, usd, "USD", 100)])

    await refused(fresh, pg_errors.CheckViolation, across_currencies)

    async def zero_amount(conn: Conn) -> None:
        e = await new_entry(conn)
        await insert_postings(conn, [(e, a, "CNY", 0), (e, b, "CNY", 0)])

    await refused(fresh, pg_errors.CheckViolation, zero_amount)

    async def wrong_currency_for_account(conn: Conn) -> None:
        e = await new_entry(conn)
        await insert_postings(conn, [(e, a, "USD", -100), (e, b, "USD", 100)])

    await refused(fresh, pg_errors.ForeignKeyViolation, wrong_currency_for_account)

    async def negative_pending(conn: Conn) -> None:
        await conn.execute("update ledger_balance set pending_out = -1 where account_id = %s", (a,))

    await refused(fresh, pg_errors.CheckViolation, negative_pending)

    # a balanced entry does pass the guard (rolled back: nothing is left behind)
    class Rollback(Exception):
        pass

    async def balanced(conn: Conn) -> None:
        e = await new_entry(conn)
        await insert_postings(conn, [(e, a, "CNY", -100), (e, b, "CNY", 60), (e, b, "CNY", 40)])
        raise Rollback

    await refused(fresh, Rollback, balanced)
    await assert_clean(fresh)


@pytest.mark.parametrize(
    "sql",
    [
        "update ledger_posting set amount = amount + 1 where account_id = %(a)s",
        "update ledger_posting set created_at = now() where account_id = %(a)s",
        "delete from ledger_posting where account_id = %(a)s",
        "truncate ledger_posting cascade",
        "update ledger_entry set description = 'rewritten'",
        "delete from ledger_entry where id in (select entry_id from ledger_posting"
        " where account_id = %(a)s)",
        "truncate ledger_entry cascade",
    ],
)
async def test_database_keeps_postings_and_entries_append_only(
    fresh: Database, world: dict[str, int], sql: str
) -> None:
    params = {"a": world["a"]} if "%(a)s" in sql else None
    message = await refused(
        fresh, pg_errors.InsufficientPrivilege, lambda conn: conn.execute(sql, params)
    )
    assert "append-only" in message
    await assert_clean(fresh)


async def test_detects_money_moved_between_the_live_and_sandbox_books(
    fresh: Database, world: dict[str, int]
) -> None:
    """An account moved into the sandbox book after the fact: its entries and holds now
    join two books, and each book's money no longer sums to zero."""
    a = world["a"]
    await tamper(fresh, "update ledger_account set book = 'sandbox' where id = %s", (a,))
    found = await breaches(fresh)
    assert set(found) == {BOOKS, HOLD_BOOKS, ZERO_SUM}, found
    assert {row["book"] for row in found[ZERO_SUM]} == {"live", "sandbox"}
    await tamper(fresh, "update ledger_account set book = 'live' where id = %s", (a,))
    await assert_clean(fresh)
