"""A user's wallet: one ledger account per currency, limited by the user's KYC tier."""

from __future__ import annotations

from zhifu.db.database import Conn
from zhifu.errors import NotFound
from zhifu.identity.limits import KYC_LIMITS
from zhifu.ledger import AccountKind, Book, find_account, open_account, set_limits
from zhifu.money import CURRENCIES, check_currency


def wallet_code(user_id: int, currency: str) -> str:
    return f"user:{user_id}:wallet:{currency}"


async def _tier_and_book(conn: Conn, user_id: int) -> tuple[int, Book]:
    # `for share` waits for a tier change in flight, so a new wallet gets the new limits.
    cur = await conn.execute(
        "select kyc_tier, sandbox from app_user where id = %s for share", (user_id,)
    )
    row = await cur.fetchone()
    if row is None:
        raise NotFound(f"user {user_id} does not exist")
    return int(row["kyc_tier"]), Book.of(row["sandbox"])


async def apply_tier_limits(conn: Conn, account_id: int, tier: int) -> None:
    limits = KYC_LIMITS[tier]
    await set_limits(
        conn,
        account_id,
        cap=limits.balance_cap,
        single_debit_limit=limits.single_payment,
        daily_debit_limit=limits.daily_outflow,
    )


async def wallet_account(conn: Conn, user_id: int, currency: str = "CNY") -> int:
    """The ledger account id of the user's wallet in `currency`, opened with the limits
    of the user's tier if missing. Runs inside the caller's transaction."""
    found = await find_wallet(conn, user_id, currency)
    if found is not None:
        return found
    tier, book = await _tier_and_book(conn, user_id)
    account = await open_account(
        conn,
        wallet_code(user_id, currency),
        AccountKind.USER_WALLET,
        currency,
        owner_id=user_id,
        floor=0,
        book=book,
    )
    await apply_tier_limits(conn, account.id, tier)
    return account.id


async def find_wallet(conn: Conn, user_id: int, currency: str) -> int | None:
    """The ledger account id of the user's wallet in `currency`, if it is open. Reads
    open nothing: a currency the user never held has no wallet (and reads as zero)."""
    found = await find_account(conn, wallet_code(user_id, check_currency(currency)))
    return None if found is None else found.id


async def existing_wallets(conn: Conn, user_id: int) -> dict[str, int]:
    """Currency -> ledger account id of each wallet the user has opened."""
    found = {currency: await find_wallet(conn, user_id, currency) for currency in CURRENCIES}
    return {currency: wallet for currency, wallet in found.items() if wallet is not None}
