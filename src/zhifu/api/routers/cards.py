"""Linked bank cards and bank accounts, tokenised: only a token and the last four leave."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel, ConfigDict, Field

from zhifu.api.auth import CurrentUser
from zhifu.api.deps import OptionalIdempotencyKey, RuntimeDep
from zhifu.api.openapi import refusals
from zhifu.api.schemas.wallet import CardOut, CardsOut
from zhifu.errors import Conflict, NotFound
from zhifu.inputs import MAX_ID

router = APIRouter(prefix="/v1/cards", tags=["cards"], responses=refusals(NotFound, Conflict))

CardId = Annotated[int, Path(gt=0, le=MAX_ID)]


class CardLink(BaseModel):
    model_config = ConfigDict(extra="forbid")
    number: str = Field(max_length=64, description="Card number (Luhn) or account number")
    kind: Literal["card", "account"] = "card"
    holder_name: str = Field("", max_length=100)
    bank: str | None = Field(None, max_length=100)


@router.get("", response_model=CardsOut)
async def list_cards(user: CurrentUser, runtime: RuntimeDep) -> dict[str, Any]:
    """The user's active cards and accounts."""
    return {"cards": [card.to_dict() for card in await runtime.cards.list(user.id)]}


@router.post("", status_code=201, response_model=CardOut)
async def link_card(
    body: CardLink, user: CurrentUser, runtime: RuntimeDep, key: OptionalIdempotencyKey
) -> dict[str, Any]:
    """Link a card or bank account; the same number twice is refused while linked."""
    card = await runtime.cards.link(
        user.id,
        body.number,
        kind=body.kind,
        holder_name=body.holder_name,
        bank=body.bank,
        idempotency_key=key,
    )
    return card.to_dict()


@router.get("/{card_id}", response_model=CardOut)
async def get_card(card_id: CardId, user: CurrentUser, runtime: RuntimeDep) -> dict[str, Any]:
    return (await runtime.cards.get(user.id, card_id)).to_dict()


@router.delete("/{card_id}", status_code=204)
async def unlink_card(card_id: CardId, user: CurrentUser, runtime: RuntimeDep) -> Response:
    await runtime.cards.unlink(user.id, card_id)
    return Response(status_code=204)
