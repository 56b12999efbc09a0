"""The kit every web app is built on: the Jinja2 environment of its pages.

Pages are rendered on the server with Jinja2 (autoescaped) in the visitor's language
(zhifu.web.kit.i18n) and styled by local CSS; the little JavaScript there is ships in
zhifu/web/static/ too: nothing is fetched from the internet at run time. What every app
does with a browser (session, CSRF, headers) is zhifu.web.kit.session, page rendering
zhifu.web.kit.pages, QR codes and barcodes zhifu.web.kit.codes. The apps' routes are in
zhifu.web.wallet, .portal, .checkout and .site.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2
from babel.support import NullTranslations

from zhifu.web.kit import i18n

WEB_DIR = Path(__file__).parent.parent  # templates, static files and catalogs are shared
TEMPLATES_DIR = WEB_DIR / "templates"
STATIC_DIR = WEB_DIR / "static"
_UNTRANSLATED = NullTranslations()


def money(amount: int, currency: str, locale: str = i18n.DEFAULT_LOCALE) -> str:
    """An amount for people to read in a locale: "CN¥12.34" (en), "¥12.34" (zh_CN)."""
    return i18n.money(amount, currency, locale)


def _locale(context: jinja2.runtime.Context) -> str:
    return str(context.get("locale", i18n.DEFAULT_LOCALE))


@jinja2.pass_context
def _gettext(context: jinja2.runtime.Context, message: str) -> str:
    translations = context.get("translations", _UNTRANSLATED)
    return str(translations.ugettext(message))


@jinja2.pass_context
def _ngettext(context: jinja2.runtime.Context, singular: str, plural: str, n: int) -> str:
    translations = context.get("translations", _UNTRANSLATED)
    return str(translations.ungettext(singular, plural, n))


@jinja2.pass_context
def _money_filter(context: jinja2.runtime.Context, amount: int, currency: str) -> str:
    return i18n.money(amount, currency, _locale(context))


@jinja2.pass_context
def _moment_filter(context: jinja2.runtime.Context, value: datetime) -> str:
    return i18n.moment(value, _locale(context))


@jinja2.pass_context
def _moment_short_filter(context: jinja2.runtime.Context, value: datetime) -> str:
    return i18n.moment_short(value, _locale(context))


def environment() -> jinja2.Environment:
    """Templates translate with the `translations` of their context (`{{ _("...") }}`,
    `{% trans %}`) and format money and times for its `locale`."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=["jinja2.ext.i18n"],
    )
    installer: Any = env
    installer.install_gettext_callables(_gettext, _ngettext, newstyle=True)
    env.filters["money"] = _money_filter
    env.filters["moment"] = _moment_filter
    env.filters["moment_short"] = _moment_short_filter
    return env
