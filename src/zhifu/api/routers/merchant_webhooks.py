"""A merchant's webhooks over the REST API: where events go, which types, what became of
each delivery, and resending one. See docs/webhooks.md for the events themselves."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from zhifu.api.auth import CurrentMerchant
from zhifu.api.deps import RuntimeDep
from zhifu.api.openapi import refusals
from zhifu.api.schemas.merchant import DeliveriesOut, DeliveryOut, WebhookOut
from zhifu.errors import Conflict, NotFound
from zhifu.events import DeliveryState
from zhifu.inputs import MAX_ID

router = APIRouter(
    prefix="/v1/merchant/webhook",
    tags=["merchant webhooks"],
    responses=refusals(NotFound, Conflict),
)


class WebhookRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(min_length=1, max_length=2000, description="An absolute http(s) URL")
    event_types: list[Annotated[str, Field(max_length=100)]] | None = Field(
        None, max_length=50, description="The types to deliver; omitted or null: all"
    )
    rotate_secret: bool = Field(False, strict=True, description="Make a new signing secret")


@router.put("", response_model=WebhookOut, response_model_exclude_unset=True)
async def set_webhook(
    body: WebhookRequest, merchant: CurrentMerchant, runtime: RuntimeDep
) -> dict[str, Any]:
    """Create or replace the endpoint. The signing secret is in the answer when it is new:
    the first time, and when `rotate_secret` is true."""
    webhook = await runtime.payments.notifications.set_webhook(
        merchant, body.url, body.event_types, rotate_secret=body.rotate_secret
    )
    return webhook.to_dict()


@router.get("", response_model=WebhookOut, response_model_exclude_unset=True)
async def get_webhook(merchant: CurrentMerchant, runtime: RuntimeDep) -> dict[str, Any]:
    return (await runtime.payments.notifications.webhook(merchant)).to_dict()


@router.get("/deliveries", response_model=DeliveriesOut)
async def list_deliveries(
    merchant: CurrentMerchant,
    runtime: RuntimeDep,
    state: DeliveryState | None = None,
    event_id: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    before: Annotated[int | None, Query(gt=0, le=MAX_ID)] = None,
) -> dict[str, Any]:
    """Deliveries newest first, each with its attempts; page back with `before`."""
    deliveries = await runtime.payments.notifications.deliveries(
        merchant, state=state, event_id=event_id, before=before, limit=limit
    )
    return {"deliveries": deliveries}


@router.post("/deliveries/{delivery_id}/resend", status_code=201, response_model=DeliveryOut)
async def resend(
    delivery_id: Annotated[int, Path(gt=0, le=MAX_ID)],
    merchant: CurrentMerchant,
    runtime: RuntimeDep,
) -> dict[str, Any]:
    """A fresh delivery of the same event (same event id), due at once."""
    return await runtime.payments.notifications.resend(merchant, delivery_id)
