from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tests.identity.support import new_user
from zhifu.clock import ManualClock
from zhifu.db import Database
from zhifu.errors import (
    CardAlreadyLinked,
    IdempotencyConflict,
    InvalidCardNumber,
    NotFound,
)
from zhifu.identity import CardService, UserService, load_tokenizer_secret

VISA = "4111 1111 1111 1111"
SECRET = b"test tokenizer secret, 32 bytes!"


@pytest.fixture
def users(db: Database, clock: ManualClock) -> UserService:
    return UserService(db, clock)


@pytest.fixture
def cards(db: Database, clock: ManualClock) -> CardService:
    return CardService(db, clock, SECRET)


async def test_link_stores_a_token_never_the_number(
    db: Database, users: UserService, cards: CardService
) -> None:
    user_id = await new_user(users)
    card = await cards.link(user_id, VISA, holder_name="Li Lei", bank="ICBC")
    assert (card.kind, card.brand, card.last4, card.status) == ("card", "visa", "1111", "active")
    assert card.token.startswith("tok_") and len(card.token) == 28
    assert "4111111111111111" not in str(card.to_dict())
    row = await db.fetch_one("select * from bank_card where id = %s", (card.id,))
    assert row is not None
    stored = " ".join(str(value) for value in row.values())
    assert "4111111111111111" not in stored and "41111111" not in stored
    assert await cards.list(user_id) == [card]
    assert await cards.get(user_id, card.id) == card


async def test_same_number_twice_is_refused_while_linked(
    users: UserService, cards: CardService
) -> None:
    user_id = await new_user(users)
    card = await cards.link(user_id, VISA)
    with pytest.raises(CardAlreadyLinked):
        await cards.link(user_id, VISA.replace(" ", "-"))
    unlinked = await cards.unlink(user_id, card.id)
    assert unlinked.status == "unlinked"
    assert await cards.list(user_id) == []
    assert (await cards.get(user_id, card.id)).status == "unlinked"
    relinked = await cards.link(user_id, VISA)
    assert relinked.id != card.id and relinked.token != card.token
    with pytest.raises(NotFound):
        await cards.unlink(user_id, card.id)


async def test_fingerprints_depend_on_the_secret(
    db: Database, clock: ManualClock, users: UserService, cards: CardService
) -> None:
    user_id = await new_user(users)
    await cards.link(user_id, VISA)
    other = CardService(db, clock, b"another tokenizer secret of 32 b")
    await other.link(user_id, VISA)  # another secret, another fingerprint
    rows = await db.fetch_all("select fingerprint from bank_card where user_id = %s", (user_id,))
    assert len({row["fingerprint"] for row in rows}) == 2


async def test_bank_accounts_and_bad_numbers(users: UserService, cards: CardService) -> None:
    user_id = await new_user(users)
    account = await cards.link(user_id, "GB82 WEST 1234 5698 7654 32", kind="account")
    assert (account.kind, account.brand, account.last4) == ("account", "bank_account", "5432")
    for number in ("4111111111111112", "4111", "4111 1111 1111 1111 1111"):
        with pytest.raises(InvalidCardNumber):
            await cards.link(user_id, number)
    assert await cards.list(user_id) == [account]


async def test_another_users_card_is_not_found(users: UserService, cards: CardService) -> None:
    owner, stranger = await new_user(users), await new_user(users)
    card = await cards.link(owner, VISA)
    with pytest.raises(NotFound) as hidden:
        await cards.get(stranger, card.id)
    with pytest.raises(NotFound) as missing:
        await cards.get(stranger, 10**12)
    assert hidden.value.message.replace(str(card.id), "N") == missing.value.message.replace(
        str(10**12), "N"
    )
    with pytest.raises(NotFound):
        await cards.unlink(stranger, card.id)
    assert (await cards.get(owner, card.id)).status == "active"


async def test_link_with_idempotency_key_replays(users: UserService, cards: CardService) -> None:
    user_id = await new_user(users)
    key = str(uuid.uuid4())
    first = await cards.link(user_id, "5555555555554444", idempotency_key=key)
    assert await cards.link(user_id, "5555555555554444", idempotency_key=key) == first
    with pytest.raises(IdempotencyConflict):
        await cards.link(user_id, "378282246310005", idempotency_key=key)


def test_tokenizer_secret_is_created_once(tmp_path: Path) -> None:
    first = load_tokenizer_secret(tmp_path / "data")
    assert len(first) == 32
    assert load_tokenizer_secret(tmp_path / "data") == first
    assert (tmp_path / "data" / "card-tokenizer.key").stat().st_mode & 0o777 == 0o600
