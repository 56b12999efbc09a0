"""Linked bank cards and bank accounts, tokenised: zhifu keeps a random token, the last
four digits, the brand and a keyed fingerprint, never the number.

The fingerprint is HMAC-SHA256 under a tokenizer secret kept in the data directory
(`card-tokenizer.key`, created on first start, mode 0600), outside the database, so a
leaked database dump cannot be brute-forced back to card numbers (with the last four
digits and the brand known, a card number has only about a million candidates). Every
server sharing one database must share that file, or duplicates linked through different
servers go unnoticed.
"""

from __future__ import annotations

import os
import secrets
import string
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from zhifu.clock import Clock
from zhifu.db import idempotency
from zhifu.db.database import Conn, Database
from zhifu.errors import CardAlreadyLinked, InvalidRequest, NotFound
from zhifu.identity.card_numbers import CheckedNumber, check_number

SECRET_FILE = "card-tokenizer.key"
TOKEN_ALPHABET = string.ascii_letters + string.digits
MAX_NAME = 100
_CARD_COLUMNS = "id, user_id, kind, token, last4, brand, bank, holder_name, status, created_at"


def load_tokenizer_secret(data_dir: Path) -> bytes:
    """The tokenizer secret of this installation, created on first use."""
    path = data_dir / SECRET_FILE
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return bytes.fromhex(path.read_text().strip())
    with os.fdopen(fd, "w") as file:
        file.write(secrets.token_hex(32))
    return bytes.fromhex(path.read_text().strip())


def new_token() -> str:
    return "tok_" + "".join(secrets.choice(TOKEN_ALPHABET) for _ in range(24))


@dataclass(frozen=True, slots=True)
class Card:
    id: int
    user_id: int
    kind: str
    token: str
    last4: str
    brand: str
    bank: str
    holder_name: str
    status: str
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "user_id": self.user_id,
            "kind": self.kind,
            "token": self.token,
            "last4": self.last4,
            "brand": self.brand,
            "bank": self.bank,
            "holder_name": self.holder_name,
            "status": self.status,
            "created_at": self.created_at.isoformat(),
        }


def _label(value: str | None, name: str) -> str:
    text = (value or "").strip()
    if len(text) > MAX_NAME or not text.isprintable():
        raise InvalidRequest(f"{name} has at most {MAX_NAME} printable characters")
    return text


class CardService:
    def __init__(self, db: Database, clock: Clock, tokenizer_secret: bytes) -> None:
        if len(tokenizer_secret) < 16:
            raise ValueError("the tokenizer secret needs at least 16 bytes")
        self.db = db
        self.clock = clock
        self._secret = tokenizer_secret

    async def link(
        self,
        user_id: int,
        number: str,
        *,
        kind: str = "card",
        holder_name: str = "",
        bank: str | None = None,
        idempotency_key: str | None = None,
    ) -> Card:
        """Link a card or bank account to the user; the same number twice is refused."""
        checked = check_number(self._secret, kind, number)
        holder, bank_name = _label(holder_name, "holder_name"), _label(bank, "bank")
        scope = idempotency.card_scope(user_id)
        request = {"fingerprint": checked.fingerprint, "holder": holder, "bank": bank_name}

        async def work(conn: Conn) -> int:
            earlier = await idempotency.replayed(conn, scope, idempotency_key, request)
            if earlier is not None:
                return int(earlier["card_id"])
            card_id = await self._insert(conn, user_id, checked, holder, bank_name)
            await idempotency.remember(conn, scope, idempotency_key, {"card_id": card_id})
            return card_id

        return await self.get(user_id, await self.db.transaction(work))

    async def _insert(
        self, conn: Conn, user_id: int, checked: CheckedNumber, holder: str, bank: str
    ) -> int:
        cur = await conn.execute(
            """
            insert into bank_card (user_id, kind, token, fingerprint, last4, brand, bank,
                                   holder_name, status, created_at)
            values (%s, %s, %s, %s, %s, %s, %s, %s, 'active', %s)
            on conflict (user_id, fingerprint) where status = 'active' do nothing
            returning id
            """,
            (
                user_id,
                checked.kind,
                new_token(),
                checked.fingerprint,
                checked.last4,
                checked.brand,
                bank,
                holder,
                self.clock.now(),
            ),
        )
        row = await cur.fetchone()
        if row is None:
            raise CardAlreadyLinked(f"this {checked.kind} is already linked")
        return int(row["id"])

    async def unlink(self, user_id: int, card_id: int) -> Card:
        async with self.db.connection() as conn:
            cur = await conn.execute(
                f"""
                update bank_card set status = 'unlinked', unlinked_at = %s
                where id = %s and user_id = %s and status = 'active'
                returning {_CARD_COLUMNS}
                """,
                (self.clock.now(), card_id, user_id),
            )
            row = await cur.fetchone()
        if row is None:
            raise NotFound(f"card {card_id} not found")
        return Card(**row)

    async def list(self, user_id: int) -> list[Card]:
        """The user's active cards and accounts, oldest first."""
        rows = await self.db.fetch_all(
            f"""
            select {_CARD_COLUMNS} from bank_card
            where user_id = %s and status = 'active' order by id
            """,
            (user_id,),
        )
        return [Card(**row) for row in rows]

    async def get(self, user_id: int, card_id: int) -> Card:
        """One of the user's cards (active or unlinked); another user's is not found."""
        row = await self.db.fetch_one(
            f"select {_CARD_COLUMNS} from bank_card where id = %s and user_id = %s",
            (card_id, user_id),
        )
        if row is None:
            raise NotFound(f"card {card_id} not found")
        return Card(**row)
