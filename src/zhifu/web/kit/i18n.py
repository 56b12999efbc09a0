"""Languages of the web apps: English and Simplified Chinese, chosen per visitor.

Messages live in gettext catalogs, src/zhifu/web/locale/<locale>/LC_MESSAGES/messages.po
(English text is the message id). They are compiled in memory when first used, so a fresh
checkout needs no build step and the catalogs cannot fall out of step with a compiled
copy. `make` has no part in it: `pybabel extract` / `update` refresh the .po files (see
docs/web.md).

A visitor's language is the `zhifu_lang` cookie (set by the language switch), else the
first language of Accept-Language we have, else English. Amounts are formatted by
Babel for the locale with the currency's symbol (CN¥1,234.56 in English, ¥1,234.56 in
Chinese); times are shown in Asia/Shanghai, where zhifu's business days run.
"""

from __future__ import annotations

import io
from datetime import datetime
from decimal import Decimal
from functools import cache
from pathlib import Path

from babel.core import Locale
from babel.dates import format_datetime, format_skeleton, format_time
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_currency
from babel.support import Translations

from zhifu.clock import BUSINESS_TIMEZONE
from zhifu.money import format_decimal

LOCALES = ("en", "zh_CN")
DEFAULT_LOCALE = "en"
LANGUAGE_COOKIE = "zhifu_lang"
DOMAIN = "messages"
# How each language names itself in the language switch.
LANGUAGE_NAMES = {"en": "English", "zh_CN": "简体中文"}
# The value of <html lang>.
HTML_LANG = {"en": "en", "zh_CN": "zh-Hans-CN"}
LOCALE_DIR = Path(__file__).parent.parent / "locale"


def N_(message: str) -> str:
    """Mark a message for extraction without translating it yet (translated at render)."""
    return message


def catalog_path(locale: str) -> Path:
    return LOCALE_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po"


@cache
def translations(locale: str) -> Translations:
    """The compiled catalog of a locale (English's is the identity)."""
    if locale not in LOCALES:
        locale = DEFAULT_LOCALE
    with catalog_path(locale).open("rb") as po:
        catalog = read_po(po, locale=locale, domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)


def supported(locale: str | None, available: tuple[str, ...] = LOCALES) -> str | None:
    return locale if locale in available else None


def _from_tag(tag: str) -> str | None:
    """A language tag (zh-CN, zh-Hans, en-GB, ...) to one of our locales."""
    primary = tag.strip().lower().replace("_", "-").split("-", 1)[0]
    return {"zh": "zh_CN", "en": "en"}.get(primary)


def _quality(part: str) -> float:
    for parameter in part.split(";")[1:]:
        name, _, value = parameter.strip().partition("=")
        if name == "q":
            try:
                return float(value)
            except ValueError:
                return 0.0
    return 1.0


def from_accept_language(header: str | None, available: tuple[str, ...] = LOCALES) -> str | None:
    """The best of `available` that an Accept-Language header asks for, if any."""
    if not header:
        return None
    ranked = sorted(
        ((_quality(part), index, part.split(";", 1)[0]) for index, part in
         enumerate(header.split(",")[:32])),
        key=lambda item: (-item[0], item[1]),
    )  # fmt: skip
    for quality, _, tag in ranked:
        locale = _from_tag(tag) if quality > 0 else None
        if locale in available:
            return locale
    return None


def negotiate(
    cookie: str | None, accept_language: str | None, available: tuple[str, ...] = LOCALES
) -> str:
    """The visitor's language: the cookie's, else Accept-Language's, else the first."""
    return (
        supported(cookie, available)
        or from_accept_language(accept_language, available)
        or available[0]
    )


def money(amount: int, currency: str, locale: str = DEFAULT_LOCALE) -> str:
    """Minor units for people to read, per locale: CN¥1,234.56 (en), ¥1,234.56 (zh_CN).
    The decimal is exact (no float on the way)."""
    return format_currency(Decimal(format_decimal(amount, currency)), currency, locale=locale)


def moment(value: datetime, locale: str = DEFAULT_LOCALE) -> str:
    """A date and time in Asia/Shanghai, in the locale's medium format."""
    return format_datetime(value, "medium", tzinfo=BUSINESS_TIMEZONE, locale=Locale.parse(locale))


def moment_short(value: datetime, locale: str = DEFAULT_LOCALE) -> str:
    """Day and time for lists: "Nov 24, 10:02 PM" (en), "11月24日 22:02" (zh_CN)."""
    day = format_skeleton("MMMd", value, tzinfo=BUSINESS_TIMEZONE, locale=locale)
    return f"{day} {format_time(value, 'short', tzinfo=BUSINESS_TIMEZONE, locale=locale)}"
