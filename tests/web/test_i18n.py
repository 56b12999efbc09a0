"""Languages: every text has its Chinese, placeholders survive translation, amounts and
times are formatted per locale, and the visitor's language is chosen as documented."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from zhifu.web.kit import i18n

ROOT = Path(__file__).resolve().parents[2]
PLACEHOLDER = re.compile(r"%\([a-z_]+\)[sd]|\{[a-z_]+\}")


def source_messages() -> set[str]:
    """Every message id the templates and routers ask for, as `pybabel extract` finds."""
    method_map = [
        ("src/zhifu/web/**.py", "python"),
        ("src/zhifu/web/templates/**.html", "jinja2"),
    ]
    options = {"src/zhifu/web/templates/**.html": {"extensions": "jinja2.ext.i18n",
                                                   "trimmed": "true"}}  # fmt: skip
    found = set()
    for _, _, message, _, _ in extract_from_dir(str(ROOT), method_map, options):
        found.add(message[0] if isinstance(message, tuple) else message)
    return found


def catalog(locale: str) -> dict[str, str | tuple[str, ...]]:
    with i18n.catalog_path(locale).open("rb") as po:
        return {m.id if isinstance(m.id, str) else m.id[0]: m.string for m in read_po(po) if m.id}


def test_every_text_has_its_chinese_translation() -> None:
    chinese = catalog("zh_CN")
    wanted = source_messages()
    assert len(wanted) > 150
    untranslated = sorted(m for m in wanted if not chinese.get(m) or chinese[m] == ("",))
    assert untranslated == [], "run pybabel extract/update and translate (docs/web.md)"


def test_translations_keep_their_placeholders() -> None:
    for message, text in catalog("zh_CN").items():
        wanted = set(PLACEHOLDER.findall(message))
        for translated in (text,) if isinstance(text, str) else text:
            assert not translated or set(PLACEHOLDER.findall(translated)) == wanted, message


def test_catalogs_compile_and_translate() -> None:
    assert i18n.translations("zh_CN").ugettext("Sign in") == "登录"
    assert i18n.translations("en").ugettext("Sign in") == "Sign in"
    assert i18n.translations("xx").ugettext("Sign in") == "Sign in"


@pytest.mark.parametrize(
    ("amount", "currency", "locale", "shown"),
    [
        (123_456, "CNY", "en", "CN¥1,234.56"),
        (123_456, "CNY", "zh_CN", "¥1,234.56"),
        (-5, "CNY", "zh_CN", "-¥0.05"),
        (10**15, "CNY", "en", "CN¥10,000,000,000,000.00"),
        (1_234, "JPY", "en", "¥1,234"),
        (1_250, "USD", "en", "$12.50"),
    ],
)
def test_money_is_formatted_per_locale_exactly(
    amount: int, currency: str, locale: str, shown: str
) -> None:
    assert i18n.money(amount, currency, locale) == shown


def test_times_are_shown_in_shanghai() -> None:
    moment = datetime(2026, 3, 1, 16, 30, tzinfo=UTC)  # 00:30 the next day in Shanghai
    assert "Mar 2, 2026" in i18n.moment(moment, "en") and "12:30" in i18n.moment(moment, "en")
    assert "2026年3月2日" in i18n.moment(moment, "zh_CN")


@pytest.mark.parametrize(
    ("cookie", "header", "locale"),
    [
        (None, None, "en"),
        (None, "zh-CN,zh;q=0.9,en;q=0.8", "zh_CN"),
        (None, "fr-FR, en-GB;q=0.5, zh;q=0.7", "zh_CN"),
        (None, "fr, de", "en"),
        (None, "zh;q=0, en", "en"),
        ("en", "zh-CN", "en"),
        ("zh_CN", "en", "zh_CN"),
        ("klingon", "zh-Hans", "zh_CN"),
    ],
)
def test_language_is_the_cookie_then_accept_language_then_english(
    cookie: str | None, header: str | None, locale: str
) -> None:
    assert i18n.negotiate(cookie, header) == locale
