"""What every web app does with a browser: its session cookie, CSRF nonce, language,
and the headers every page carries.

Each app keeps its cookies to its own path (a `CookieSpace`): the hosted checkout under
/checkout, the wallet under /wallet, the merchant portal under /merchant. The session
cookie holds the token of the app's sign-in (HttpOnly, SameSite=Lax, Secure when the
request came over https: behind a TLS proxy run uvicorn with --proxy-headers). The CSRF
nonce is a second HttpOnly cookie; forms carry the token zhifu.web.kit.csrf derives from it
and the session, so a form is refused unless the same browser got it from us in this
session. Who a token belongs to (a consumer, a merchant) is the app's business: this
module never looks inside it.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from zhifu.errors import Unauthorized
from zhifu.identity import User, UserService
from zhifu.web.kit import csrf, i18n

CSRF_COOKIE = "zhifu_csrf"
_FORM_KEY = re.compile(r"[A-Za-z0-9_-]{16,64}")
LANGUAGE_MAX_AGE = int(timedelta(days=365).total_seconds())
V = TypeVar("V", bound="Visit")


@dataclass(frozen=True)
class CookieSpace:
    """Where one app keeps its cookies."""

    path: str
    session_cookie: str
    csrf_cookie: str = CSRF_COOKIE
    # The languages the app's pages are written in (the first is the default).
    locales: tuple[str, ...] = i18n.LOCALES

    def session_token(self, request: Request) -> str | None:
        return request.cookies.get(self.session_cookie) or None


def set_cookie(
    response: Response,
    request: Request,
    name: str,
    value: str,
    *,
    path: str,
    max_age: int | None = None,
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=path,
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="lax",
    )


def delete_cookie(response: Response, name: str, *, path: str) -> None:
    response.delete_cookie(name, path=path, httponly=True, samesite="lax")


def client_address(request: Request) -> str | None:
    return request.client.host if request.client else None


@dataclass(frozen=True, kw_only=True)
class Visit:
    """One request of a browser: its session token, CSRF nonce and language."""

    request: Request
    space: CookieSpace
    session_token: str | None
    nonce: str
    nonce_is_new: bool
    locale: str = i18n.DEFAULT_LOCALE

    @property
    def client_address(self) -> str | None:
        """Where the request came from, for per-address limits (behind a TLS proxy, what
        uvicorn's --proxy-headers made of X-Forwarded-For)."""
        return client_address(self.request)

    @classmethod
    def of(cls: type[V], request: Request, space: CookieSpace, **more: Any) -> V:
        """The visit as the browser's cookies tell it; `more` are a subclass's fields
        (such as the signed-in user)."""
        nonce = request.cookies.get(space.csrf_cookie)
        return cls(
            request=request,
            space=space,
            session_token=space.session_token(request),
            nonce=nonce or csrf.new_nonce(),
            nonce_is_new=nonce is None,
            locale=i18n.negotiate(
                request.cookies.get(i18n.LANGUAGE_COOKIE),
                request.headers.get("accept-language"),
                space.locales,
            ),
            **more,
        )

    @property
    def csrf_token(self) -> str:
        return csrf.form_token(self.nonce, self.session_token)

    def csrf_ok(self, submitted: str) -> bool:
        """Whether a form's token came from a page we showed this browser in this session
        (a browser without our nonce cookie cannot have one)."""
        return not self.nonce_is_new and csrf.valid(self.nonce, self.session_token, submitted)

    def gettext(self, message: str) -> str:
        return i18n.translations(self.locale).ugettext(message)

    def money(self, amount: int, currency: str) -> str:
        return i18n.money(amount, currency, self.locale)

    def moment(self, value: datetime) -> str:
        return i18n.moment(value, self.locale)

    def keep_nonce(self, response: Response) -> None:
        """Give the browser its nonce cookie if it came without one."""
        if self.nonce_is_new:
            set_cookie(
                response, self.request, self.space.csrf_cookie, self.nonce, path=self.space.path
            )

    def start_session(self, response: Response, token: str, max_age: int) -> None:
        set_cookie(
            response,
            self.request,
            self.space.session_cookie,
            token,
            path=self.space.path,
            max_age=max_age,
        )

    def end_session(self, response: Response) -> None:
        delete_cookie(response, self.space.session_cookie, path=self.space.path)


async def signed_in_consumer(users: UserService, token: str | None) -> User | None:
    """The consumer whose live session token a cookie holds (the wallet's, the checkout's)."""
    if not token:
        return None
    try:
        return await users.authenticate(token)
    except Unauthorized:
        return None


def local_path(target: str | None, default: str = "/") -> str:
    """`target` if it is a path on this site; never another origin (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    if any(ord(c) < 0x21 for c in target):
        return default
    return target


def see_other(location: str) -> RedirectResponse:
    return RedirectResponse(location, status_code=303)


def choose_language(request: Request, locale: str, back_to: str) -> RedirectResponse:
    """The language switch: remember the choice for the whole site, go back."""
    response = see_other(back_to)
    if i18n.supported(locale):
        set_cookie(
            response,
            request,
            i18n.LANGUAGE_COOKIE,
            locale,
            path="/",
            max_age=LANGUAGE_MAX_AGE,
        )
    return response


def page_headers(form_targets: Iterable[str] = (), *, scripts: bool = False) -> dict[str, str]:
    """No caching, no framing, nothing from another origin. Forms post here (and to any
    `form_targets`, such as a merchant's return URL a form is redirected to); scripts
    only from our own static files when a page has any, never inline, and they may
    fetch only from here (the merchant's cashier page polls its sale)."""
    form_action = " ".join(["'self'", *form_targets])
    script_src = "script-src 'self'; connect-src 'self'; " if scripts else ""
    return {
        "Cache-Control": "no-store",
        "Content-Security-Policy": (
            f"default-src 'none'; style-src 'self'; img-src 'self'; {script_src}"
            f"base-uri 'none'; frame-ancestors 'none'; form-action {form_action}"
        ),
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
    }


def new_form_key() -> str:
    """A fresh key for one money form, rendered into it as a hidden field: the form
    posted twice (a double click, a resubmission) is one request to the services."""
    return secrets.token_urlsafe(18)


def valid_form_key(key: str) -> bool:
    """Whether a posted form key looks like one `new_form_key` made."""
    return _FORM_KEY.fullmatch(key) is not None
