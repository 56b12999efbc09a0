"""For the merchant's developers: API keys (made, shown once, revoked) and the webhook
endpoint with its deliveries, each with the log of its attempts and a resend button.

A new key's secret and a new webhook signing secret are on the page that made them and
nowhere else: zhifu keeps only the key's hash, and the page is never cached.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Form, Path, Query
from fastapi.responses import HTMLResponse, Response

from zhifu.errors import NotFound, ZhifuError
from zhifu.events import DeliveryState
from zhifu.inputs import MAX_ID
from zhifu.merchants import ApiKey, Webhook
from zhifu.payments import EVENT_TYPES
from zhifu.web.kit.errors import Errors, refusal
from zhifu.web.kit.i18n import N_
from zhifu.web.kit.session import new_form_key, see_other, valid_form_key
from zhifu.web.portal.common import (
    PREFIX,
    FormField,
    PortalVisit,
    SignedIn,
    VisitDep,
    checked_form,
    form_expired,
    not_found,
    render,
)

router = APIRouter()

KEYS = f"{PREFIX}/keys"
WEBHOOKS = f"{PREFIX}/webhooks"
DELIVERIES_PAGE = 20
URL_MAX = 2000
Id = Annotated[int, Path(gt=0, le=MAX_ID)]
DELIVERY_STATE_NAMES = {
    DeliveryState.PENDING.value: N_("Waiting to be sent"),
    DeliveryState.SUCCEEDED.value: N_("Delivered"),
    DeliveryState.FAILED.value: N_("Failed"),
}


# API keys.


async def keys_page(visit: PortalVisit, *, notice: str = "") -> HTMLResponse:
    keys = await visit.runtime.payments.merchants.list_keys(visit.merchant.id)
    return render(
        visit, "keys.html", title=N_("API keys"), keys=keys, notice=notice, form_key=new_form_key()
    )


@router.get("/keys", response_class=HTMLResponse)
async def show_keys(
    visit: VisitDep,
    user: SignedIn,
    revoked: Annotated[int | None, Query(gt=0, le=MAX_ID)] = None,
) -> Response:
    notice = visit._("The key was revoked: it no longer works.") if revoked else ""
    return await keys_page(visit, notice=notice)


@router.post("/keys")
async def create_key(
    visit: VisitDep,
    user: SignedIn,
    _csrf: None = checked_form(KEYS),
    form_key: FormField = "",
) -> Response:
    """A new key; its secret is on this page only. The form posted twice makes one key,
    and the second answer says its secret was already shown."""
    if not valid_form_key(form_key):
        return form_expired(visit, KEYS)
    merchants = visit.runtime.payments.merchants
    key = await merchants.create_key(visit.merchant.id, idempotency_key=f"portal:key:{form_key}")
    return render(visit, "key_created.html", title=N_("Your new API key"), status=201, key=key)


async def _key(visit: PortalVisit, key_id: int) -> ApiKey | None:
    for key in await visit.runtime.payments.merchants.list_keys(visit.merchant.id):
        if key.id == key_id:
            return key
    return None


@router.get("/keys/{key_id}/revoke", response_class=HTMLResponse)
async def confirm_revoke(
    key_id: Id,
    visit: VisitDep,
    user: SignedIn,
) -> Response:
    key = await _key(visit, key_id)
    if key is None:
        return not_found(visit)
    return render(visit, "revoke_key.html", title=N_("Revoke an API key"), key=key)


@router.post("/keys/{key_id}/revoke")
async def revoke_key(
    key_id: Id,
    visit: VisitDep,
    user: SignedIn,
    _csrf: None = checked_form(KEYS),
) -> Response:
    try:
        await visit.runtime.payments.merchants.revoke_key(visit.merchant.id, key_id)
    except NotFound:
        return not_found(visit)
    return see_other(f"{KEYS}?revoked={key_id}")


# The webhook endpoint and its deliveries.


async def webhooks_page(
    visit: PortalVisit,
    *,
    errors: Errors | None = None,
    url: str | None = None,
    chosen: list[str] | None = None,
    secret: str | None = None,
    notice: str = "",
    before: int | None = None,
    status: int = 200,
) -> HTMLResponse:
    notifications, merchant = visit.runtime.payments.notifications, visit.merchant
    endpoint: Webhook | None
    try:
        endpoint = await notifications.webhook(merchant)
    except NotFound:
        endpoint = None
    deliveries = await notifications.deliveries(merchant, before=before, limit=DELIVERIES_PAGE + 1)
    older = deliveries[DELIVERIES_PAGE - 1]["id"] if len(deliveries) > DELIVERIES_PAGE else None
    for delivery in deliveries:
        delivery["created_at"] = datetime.fromisoformat(delivery["created_at"])
        for attempt in delivery["attempt_log"]:
            attempt["started_at"] = datetime.fromisoformat(attempt["started_at"])
    if chosen is None:
        chosen = list(endpoint.event_types or []) if endpoint else []
    return render(
        visit,
        "webhooks.html",
        title=N_("Webhooks"),
        status=status,
        errors=errors,
        endpoint=endpoint,
        url=url if url is not None else (endpoint.url if endpoint else ""),
        event_types=sorted(EVENT_TYPES),
        chosen=chosen,
        secret=secret,
        notice=notice,
        deliveries=deliveries[:DELIVERIES_PAGE],
        older_url=f"{WEBHOOKS}?before={older}" if older else None,
        newest_url=WEBHOOKS if before else None,
        delivery_state_names=DELIVERY_STATE_NAMES,
    )


@router.get("/webhooks", response_class=HTMLResponse)
async def show_webhooks(
    visit: VisitDep,
    user: SignedIn,
    before: Annotated[int | None, Query(gt=0, le=MAX_ID)] = None,
    resent: Annotated[int | None, Query(gt=0, le=MAX_ID)] = None,
) -> Response:
    notice = visit._("The event was queued to be sent again.") if resent else ""
    return await webhooks_page(visit, before=before, notice=notice)


@router.post("/webhooks")
async def set_webhook(
    visit: VisitDep,
    user: SignedIn,
    _csrf: None = checked_form(WEBHOOKS),
    url: FormField = "",
    event_types: Annotated[list[str] | None, Form()] = None,
    rotate_secret: FormField = "",
) -> Response:
    url, chosen = url.strip(), [t for t in event_types or [] if t]
    errors: Errors = {}
    if not url.startswith(("http://", "https://")) or len(url) > URL_MAX:
        errors["url"] = visit._("Enter the address of your endpoint, starting https://")
    if set(chosen) - EVENT_TYPES:
        errors["event_types"] = visit._("Choose events from the list.")
    if errors:
        return await webhooks_page(visit, errors=errors, url=url, chosen=chosen, status=422)
    try:
        webhook = await visit.runtime.payments.notifications.set_webhook(
            visit.merchant, url, chosen or None, rotate_secret=rotate_secret == "yes"
        )
    except ZhifuError as error:
        errors = refusal(error, visit._, {"invalid_request": "url"}, default="url")
        return await webhooks_page(
            visit, errors=errors, url=url, chosen=chosen, status=error.status
        )
    return await webhooks_page(
        visit, secret=webhook.secret, notice=visit._("Your webhook endpoint was saved.")
    )


@router.post("/webhooks/deliveries/{delivery_id}/resend")
async def resend(
    delivery_id: Id,
    visit: VisitDep,
    user: SignedIn,
    _csrf: None = checked_form(WEBHOOKS),
) -> Response:
    """Send the delivery's event again (same event id, so a receiver that has it drops it)."""
    try:
        fresh = await visit.runtime.payments.notifications.resend(visit.merchant, delivery_id)
    except NotFound:
        return not_found(visit)
    except ZhifuError as error:
        errors = refusal(error, visit._, default="form")
        return await webhooks_page(visit, errors=errors, status=error.status)
    return see_other(f"{WEBHOOKS}?resent={fresh['id']}")
