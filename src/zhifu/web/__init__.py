"""The web apps' templates and static files, and the small rules they share.

Pages are rendered on the server with Jinja2 (autoescaped) and styled by local CSS: no
script, no CDN, nothing fetched from the internet at run time. Routes live in zhifu.api.
"""

from __future__ import annotations

from pathlib import Path

import jinja2

from zhifu.money import format_decimal

WEB_DIR = Path(__file__).parent
TEMPLATES_DIR = WEB_DIR / "templates"
STATIC_DIR = WEB_DIR / "static"
CURRENCY_SIGNS = {"CNY": "¥", "USD": "$", "EUR": "€", "HKD": "HK$", "JPY": "¥", "GBP": "£"}


def money(amount: int, currency: str) -> str:
    """An amount for people to read: "¥12.34" (the code when there is no sign)."""
    decimal = format_decimal(amount, currency)
    sign = CURRENCY_SIGNS.get(currency)
    return f"{sign}{decimal}" if sign else f"{decimal} {currency}"


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["money"] = money
    return env
