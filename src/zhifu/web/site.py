"""The site around the web apps: the landing page and the language switch.

GET /                       links to the wallet and the merchant portal
GET /language/{locale}      remember the language (cookie `zhifu_lang`, every path)
                            and go back to `next`, a path on this site
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from zhifu.web.kit import pages, session
from zhifu.web.kit.i18n import N_

router = APIRouter(tags=["web"], include_in_schema=False)

# The site's pages have no forms and keep no session: they set no cookie but the language.
SPACE = session.CookieSpace(path="/", session_cookie="", csrf_cookie="")


@router.get("/", response_class=HTMLResponse)
async def landing(request: Request) -> HTMLResponse:
    visit = session.Visit.of(request, SPACE)
    title = visit.gettext(N_("Welcome to zhifu"))
    return pages.render(visit, "site/landing.html", title=title, forms=False)


@router.get("/language/{locale}")
async def choose_language(
    request: Request, locale: str, next: Annotated[str | None, Query(max_length=2000)] = None
) -> RedirectResponse:
    return session.choose_language(request, locale, session.local_path(next))
