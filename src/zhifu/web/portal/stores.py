"""Stores and their terminals, and each store's static QR code (the customer types the
amount), through MerchantService and PaymentMethods.store_qr."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.responses import HTMLResponse, Response

from zhifu.errors import NotFound
from zhifu.inputs import MAX_ID
from zhifu.web.kit import codes
from zhifu.web.kit.errors import Errors
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

STORES = f"{PREFIX}/stores"
NAME_MAX = 100
StoreId = Annotated[int, Path(gt=0, le=MAX_ID)]


async def stores_page(
    visit: PortalVisit,
    *,
    errors: Errors | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    payments, merchant = visit.runtime.payments, visit.merchant
    stores: list[dict[str, Any]] = await payments.merchants.stores(merchant.id)
    for store in stores:
        payload = await payments.methods.store_qr(merchant, store["id"])
        store["qr"] = codes.qr_svg(payload, scale=4)
        store["payload"] = payload
    return render(
        visit,
        "stores.html",
        title=N_("Stores and terminals"),
        status=status,
        errors=errors,
        stores=stores,
        values=values or {},
        form_key=new_form_key(),
    )


@router.get("/stores", response_class=HTMLResponse)
async def show_stores(
    visit: VisitDep,
    user: SignedIn,
) -> Response:
    return await stores_page(visit)


def _name(visit: PortalVisit, text: str) -> tuple[str, str | None]:
    """The trimmed name, and what is wrong with it."""
    name = text.strip()
    if not name:
        return name, visit._("Enter a name.")
    if len(name) > NAME_MAX or not name.isprintable():
        return name, visit._("A name has at most 100 characters, on one line.")
    return name, None


@router.post("/stores")
async def add_store(
    visit: VisitDep,
    user: SignedIn,
    _csrf: None = checked_form(STORES),
    name: FormField = "",
    form_key: FormField = "",
) -> Response:
    """A new store; the form posted twice (a double click) makes one."""
    if not valid_form_key(form_key):
        return form_expired(visit, STORES)
    name, wrong = _name(visit, name)
    if wrong:
        return await stores_page(visit, errors={"name": wrong}, values={"name": name}, status=422)
    key = f"portal:store:{form_key}"
    await visit.runtime.payments.merchants.add_store(visit.merchant.id, name, idempotency_key=key)
    return see_other(STORES)


@router.post("/stores/{store_id}/terminals")
async def add_terminal(
    store_id: StoreId,
    visit: VisitDep,
    user: SignedIn,
    _csrf: None = checked_form(STORES),
    label: FormField = "",
    form_key: FormField = "",
) -> Response:
    """A new terminal; the form posted twice makes one."""
    if not valid_form_key(form_key):
        return form_expired(visit, STORES)
    field = f"label-{store_id}"
    label, wrong = _name(visit, label)
    if wrong:
        return await stores_page(visit, errors={field: wrong}, values={field: label}, status=422)
    try:
        await visit.runtime.payments.merchants.add_terminal(
            visit.merchant.id, store_id, label, idempotency_key=f"portal:terminal:{form_key}"
        )
    except NotFound:
        return not_found(visit)
    return see_other(STORES)
