"""The password-free allowance: small payments skip the PIN, within a per-payment and a
daily amount set on the user.

The user's row is locked while the allowance is spent, so concurrent password-free
payments are counted one after another against the day's allowance.
"""

from __future__ import annotations

from datetime import date

from zhifu.db.database import Conn


async def spend_password_free(conn: Conn, user_id: int, amount: int, today: date) -> str | None:
    """Spend `amount` of the user's allowance for `today`, in the caller's transaction;
    return why the PIN is needed instead, or None when the amount fits."""
    cur = await conn.execute(
        """
        select password_free_single, password_free_daily,
               case when password_free_day = %s then password_free_used else 0 end as used
        from app_user where id = %s for no key update
        """,
        (today, user_id),
    )
    allowance = await cur.fetchone()
    assert allowance is not None
    if amount > allowance["password_free_single"]:
        return "this amount needs the payment PIN"
    if allowance["used"] + amount > allowance["password_free_daily"]:
        return "today's password-free allowance is used up"
    await conn.execute(
        "update app_user set password_free_day = %s, password_free_used = %s where id = %s",
        (today, allowance["used"] + amount, user_id),
    )
    return None
