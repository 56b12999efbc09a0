"""Alipay's field formats, shared by every gateway method: reading biz_content (text,
yuan amounts, user ids) and writing answers (success, yuan, Beijing times, user ids).

User ids are zhifu user ids in Alipay's 16-digit form: "2088" and 12 digits.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

from zhifu.errors import InvalidAmount
from zhifu.money import format_decimal, parse_decimal
from zhifu.openplatform import errors
from zhifu.openplatform.errors import invalid_parameter

CURRENCY = "CNY"
MAX_AMOUNT = 100_000_000_00  # 100000000.00 yuan, Alipay's largest single amount
BUYER_ID_PREFIX = "2088"
BEIJING = timezone(timedelta(hours=8))
_USER_ID = re.compile(BUYER_ID_PREFIX + r"([0-9]{12})")


def success(**fields: Any) -> dict[str, Any]:
    return {"code": errors.SUCCESS, "msg": errors.MESSAGES[errors.SUCCESS], **fields}


def alipay_time(moment: datetime) -> str:
    """Alipay's times: Beijing wall-clock time, `yyyy-MM-dd HH:mm:ss`."""
    return moment.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S")


def yuan(amount: int, currency: str = CURRENCY) -> str:
    return format_decimal(amount, currency)


def buyer_id(user_id: int) -> str:
    """A zhifu user id as an Alipay user id (buyer_user_id, payee ALIPAY_USER_ID)."""
    return f"{BUYER_ID_PREFIX}{user_id:012d}"


def user_id_of(value: str, name: str) -> int:
    """The zhifu user id in an Alipay user id; anything but 2088 + 12 digits is refused."""
    match = _USER_ID.fullmatch(value)
    if match is None:
        raise invalid_parameter(f"{name} must be 2088 followed by 12 digits")
    return int(match.group(1))


# Reading biz_content.


def text(biz: dict[str, Any], name: str, *, max_length: int | None = None) -> str:
    value = biz.get(name)
    if not isinstance(value, str) or not value:
        raise invalid_parameter(f"{name} is required")
    if max_length is not None and len(value) > max_length:
        raise invalid_parameter(f"{name} has at most {max_length} characters")
    return value


def optional_text(biz: dict[str, Any], name: str, *, max_length: int | None = None) -> str | None:
    if biz.get(name) in (None, ""):
        return None
    return text(biz, name, max_length=max_length)


def amount(biz: dict[str, Any], name: str) -> int:
    """A yuan amount: at most two decimals, 0.01 to 100000000.00, exactly."""
    value = biz.get(name)
    rule = f"{name} must be a yuan amount from 0.01 to 100000000.00 with at most two decimals"
    if not isinstance(value, str) or not value:
        raise invalid_parameter(f"{name} is required")
    try:
        fen = parse_decimal(value, CURRENCY)
    except InvalidAmount:
        raise invalid_parameter(f"{rule}, not {value[:20]!r}") from None
    if fen > MAX_AMOUNT:
        raise invalid_parameter(f"{rule}, not {value[:20]!r}")
    return fen
