"""One sign-in flow for every app: where to go afterwards, the session cookie, the
refusals.

The service behind the form (UserService.login for the wallet and the checkout,
PortalLogins.sign_in for the portal) locks a login after repeated wrong passwords and
rate-limits an address (zhifu.db.throttle); this module only words its answers.
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import quote

from fastapi.responses import RedirectResponse

from zhifu.errors import RateLimited, SignInLocked, ZhifuError
from zhifu.web.kit.errors import Errors, Gettext, error_message
from zhifu.web.kit.session import Visit, local_path, see_other


def to_sign_in(visit: Visit, sign_in: str, home: str) -> RedirectResponse:
    """Off to sign in, and back here afterwards (a GET page; else `home`)."""
    request = visit.request
    here = request.url.path if request.method == "GET" else home
    if request.method == "GET" and request.url.query:
        here += f"?{request.url.query}"
    return see_other(f"{sign_in}?next={quote(here, safe='/')}")


def back_to(target: str | None, home: str) -> str:
    """Where to go after signing in: `target` if it is a page of the app under `home`."""
    path = local_path(target, home)
    return path if path.startswith(home) else home


def signed_in(
    visit: Visit, token: str, expires_at: datetime, now: datetime, target: str
) -> RedirectResponse:
    """On to `target` with the new session's cookie, kept as long as the session lives."""
    response = see_other(target)
    visit.start_session(response, token, max_age=int((expires_at - now).total_seconds()))
    return response


def refused(error: ZhifuError, gettext: Gettext, wrong: str) -> Errors:
    """A refused sign-in at the password field: locked, rate-limited, or `wrong` (the
    same words for an unknown login and a wrong password)."""
    if isinstance(error, SignInLocked | RateLimited):
        return {"password": error_message(error, gettext)}
    return {"password": wrong}
