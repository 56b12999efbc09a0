"""Open ids: a user as one app sees them (Alipay's `buyer_open_id`, payee
`ALIPAY_OPEN_ID`), in place of the platform-wide user id Alipay is moving away from.

An open id is random, made the first time an app meets the user and kept in
`open_user_id`: stable for the (app, user) pair, different for every app, not guessable,
and it says nothing of the user id. A table rather than a keyed hash of the pair, so
that there is no platform secret whose loss would change every open id, and an open id
is looked up, never computed back.
"""

from __future__ import annotations

import re
import secrets
import string

from zhifu.clock import Clock
from zhifu.db.database import Database
from zhifu.errors import NotFound

_ALPHABET = string.ascii_letters + string.digits
_LENGTH = 46  # "0" and 46 letters or digits, the shape of Alipay's open ids (~270 bits)
OPEN_ID = re.compile("0[A-Za-z0-9]{%d}" % _LENGTH)  # noqa: UP031


class OpenIdNotFound(NotFound):
    code = "open_id_not_found"
    title = "No user with this open id"


def new_open_id() -> str:
    return "0" + "".join(secrets.choice(_ALPHABET) for _ in range(_LENGTH))


class OpenIds:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    async def of(self, app_id: str, user_id: int) -> str:
        """The user's open id for the app, made the first time it is asked for."""
        query = "select open_id from open_user_id where app_id = %s and user_id = %s"
        row = await self.db.fetch_one(query, (app_id, user_id))
        if row is None:
            async with self.db.connection() as conn:
                await conn.execute(
                    """
                    insert into open_user_id (app_id, user_id, open_id, created_at)
                    values (%s, %s, %s, %s) on conflict (app_id, user_id) do nothing
                    """,
                    (app_id, user_id, new_open_id(), self.clock.now()),
                )
            row = await self.db.fetch_one(query, (app_id, user_id))
        assert row is not None
        open_id: str = row["open_id"]
        return open_id

    async def user_of(self, app_id: str, open_id: str) -> int:
        """The user behind one of the app's open ids; another app's open id is unknown."""
        row = None
        if OPEN_ID.fullmatch(open_id):
            row = await self.db.fetch_one(
                "select user_id from open_user_id where app_id = %s and open_id = %s",
                (app_id, open_id),
            )
        if row is None:
            raise OpenIdNotFound("no user has this open id for this app")
        user_id: int = row["user_id"]
        return user_id
