"""What every merchant portal page shares: the signed-in staff member and their merchant,
rendering, the navigation, names of states and methods, money-form keys.

The portal's cookies live under /merchant: `zhifu_merchant` holds the token of a portal
session (PortalLogins.sign_in), `zhifu_csrf` the CSRF nonce (zhifu.web.kit.session). A page
for signed-in staff sends anyone else to the sign-in page and back. Every query names
the signed-in merchant, so another merchant's trade, key or delivery is not found.

A money action (a refund) is two steps: the form is checked field by field, then a
confirmation page says what will happen and carries a fresh `form_key`, which becomes
the refund's idempotency key and its out_request_no: the confirmation posted twice (a
double click, a resubmitted page) refunds once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from zhifu.errors import Unauthorized
from zhifu.merchants import Merchant, PortalUser
from zhifu.runtime import Runtime
from zhifu.web.kit import i18n, pages, session, signin
from zhifu.web.kit.deps import Answered, BackTo, RuntimeDep, back_to_path, csrf_checked
from zhifu.web.kit.errors import Errors
from zhifu.web.kit.i18n import N_

PREFIX = "/merchant"
SPACE = session.CookieSpace(path=PREFIX, session_cookie="zhifu_merchant")
HOME = f"{PREFIX}/"
SIGN_IN = f"{PREFIX}/login"

FormField = Annotated[str, Form()]

# The portal's sections, as the navigation lists them: (path, message id).
SECTIONS = (
    (HOME, N_("Dashboard")),
    (f"{PREFIX}/cashier", N_("Cashier")),
    (f"{PREFIX}/trades", N_("Trades")),
    (f"{PREFIX}/stores", N_("Stores")),
    (f"{PREFIX}/keys", N_("API keys")),
    (f"{PREFIX}/webhooks", N_("Webhooks")),
    (f"{PREFIX}/settlement", N_("Settlement")),
)
STATE_NAMES = {
    "WAIT_BUYER_PAY": N_("Waiting for payment"),
    "TRADE_SUCCESS": N_("Paid"),
    "TRADE_FINISHED": N_("Finished"),
    "TRADE_CLOSED": N_("Closed"),
}
METHOD_NAMES = {
    "qr": N_("QR code"),
    "static_qr": N_("Store QR code"),
    "payment_code": N_("Payment code"),
    "checkout": N_("Online checkout"),
    "tap": N_("Tap to pay"),
    "wallet": N_("Wallet"),
}


@dataclass(frozen=True, kw_only=True)
class PortalVisit(session.Visit):
    runtime: Runtime
    user: PortalUser | None

    def _(self, message: str) -> str:
        return self.gettext(message)

    @property
    def merchant(self) -> Merchant:
        """The signed-in merchant (pages call this after checking `user`)."""
        assert self.user is not None
        return self.user.merchant

    def money(self, amount: int, currency: str) -> str:
        return i18n.money(amount, currency, self.locale)

    def to_sign_in(self) -> RedirectResponse:
        """Off to sign in, and back here afterwards (a GET page; else the dashboard)."""
        return signin.to_sign_in(self, SIGN_IN, HOME)


async def _signed_in(runtime: Runtime, token: str | None) -> PortalUser | None:
    if not token:
        return None
    try:
        return await runtime.payments.portal.authenticate(token)
    except Unauthorized:
        return None


async def current_visit(request: Request, runtime: RuntimeDep) -> PortalVisit:
    user = await _signed_in(runtime, SPACE.session_token(request))
    return PortalVisit.of(request, SPACE, runtime=runtime, user=user)


VisitDep = Annotated[PortalVisit, Depends(current_visit)]


async def signed_in_user(visit: VisitDep) -> PortalUser:
    """The signed-in staff member; anyone else goes to sign in and back."""
    if visit.user is None:
        raise Answered(visit.to_sign_in())
    return visit.user


SignedIn = Annotated[PortalUser, Depends(signed_in_user)]


def checked_form(back_to: BackTo = None) -> Any:
    """The form's CSRF token checked (after signing in); else "your form expired", with
    a link to `back_to`."""
    return csrf_checked(
        current_visit, lambda visit, request: form_expired(visit, back_to_path(back_to, request))
    )


def render(
    visit: PortalVisit,
    template: str,
    *,
    title: str,
    status: int = 200,
    errors: Errors | None = None,
    **context: Any,
) -> HTMLResponse:
    """A portal page; `title` is an English message id, translated here. Every page
    loads the apps' script and the portal's (static/zhifu.js, static/merchant.js)."""
    path = visit.request.url.path
    sections = [
        {"url": url, "name": visit.gettext(name), "current": _within(path, url)}
        for url, name in SECTIONS
    ]
    return pages.render(
        visit,
        f"merchant/{template}",
        title=visit.gettext(title),
        status=status,
        scripts=True,
        errors=errors or {},
        user=visit.user,
        sections=sections if visit.user else [],
        state_names=STATE_NAMES,
        method_names=METHOD_NAMES,
        **context,
    )


def _within(path: str, section: str) -> bool:
    if section == HOME:
        return path == HOME
    return path == section or path.startswith(f"{section}/")


MESSAGES = pages.MessagePages(render, HOME, N_("Back to the dashboard"))
message_page = MESSAGES.message
not_found = MESSAGES.not_found
form_expired = MESSAGES.form_expired
