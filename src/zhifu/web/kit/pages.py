"""Rendering a page for a visit: its language, CSRF token and the headers every page has.

Every app renders through `render`, so every page gets the same context (the visitor's
`locale` and `translations`, `csrf_token`, the language switch) and the same security
headers, and a browser that came without a CSRF nonce leaves with one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote

from fastapi.responses import HTMLResponse

from zhifu.web.kit import environment, i18n
from zhifu.web.kit.i18n import N_
from zhifu.web.kit.session import Visit, page_headers

STATIC_PATH = "/static"
LANGUAGE_PATH = "/language"

templates = environment()


def languages(visit: Visit) -> list[dict[str, Any]]:
    """The language switch: each language, whether it is the current one, and the URL
    that picks it and comes back here (none for an app in one language)."""
    if len(visit.space.locales) < 2:
        return []
    request = visit.request
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    back = quote(here, safe="/")
    return [
        {
            "locale": locale,
            "name": i18n.LANGUAGE_NAMES[locale],
            "lang": i18n.HTML_LANG[locale],
            "current": locale == visit.locale,
            "url": f"{LANGUAGE_PATH}/{locale}?next={back}",
        }
        for locale in visit.space.locales
    ]


def render(
    visit: Visit,
    template: str,
    *,
    title: str,
    status: int = 200,
    form_targets: Iterable[str] = (),
    scripts: bool = False,
    forms: bool = True,
    **context: Any,
) -> HTMLResponse:
    """`template` rendered for the visit. `title` is already in the visitor's language.
    A page with `forms` gives a browser that has no CSRF nonce cookie one."""
    context |= {
        "title": title,
        "static": STATIC_PATH,
        "csrf_token": visit.csrf_token,
        "locale": visit.locale,
        "html_lang": i18n.HTML_LANG[visit.locale],
        "translations": i18n.translations(visit.locale),
        "languages": languages(visit),
        "request": visit.request,
    }
    html = templates.get_template(template).render(context)
    response = HTMLResponse(
        html, status_code=status, headers=page_headers(form_targets, scripts=scripts)
    )
    if forms:
        visit.keep_nonce(response)
    return response


class AppRender(Protocol):
    def __call__(
        self, visit: Any, template: str, *, title: str, status: int = 200, **context: Any
    ) -> HTMLResponse: ...


@dataclass(frozen=True)
class MessagePages:
    """An app's pages that only say something (not found, form expired), through its
    own `render` and its `message.html`. Texts are message ids, translated here."""

    render: AppRender
    home: str
    back_text: str  # a message id: the link back to the app's home

    def message(
        self,
        visit: Visit,
        heading: str,
        message: str,
        *,
        status: int,
        link_url: str | None = None,
        link_text: str | None = None,
    ) -> HTMLResponse:
        return self.render(
            visit,
            "message.html",
            title=heading,
            status=status,
            heading=visit.gettext(heading),
            message=visit.gettext(message),
            link_url=link_url or self.home,
            link_text=visit.gettext(link_text or self.back_text),
        )

    def not_found(self, visit: Visit) -> HTMLResponse:
        return self.message(
            visit, N_("Not found"), N_("There is nothing here, or it is not yours."), status=404
        )

    def form_expired(self, visit: Visit, back_to: str | None = None) -> HTMLResponse:
        return self.message(
            visit,
            N_("Your form expired"),
            N_("For your safety the form could not be accepted. Nothing was done: start again."),
            status=403,
            link_url=back_to,
            link_text=N_("Start again"),
        )
