"""Phone numbers: normalised to E.164 ("+8613812345678") and masked for receipts."""

from __future__ import annotations

import re

from zhifu.errors import InvalidPhone

CHINA = "+86"
_SEPARATORS = re.compile(r"[\s\-().]")
_CHINESE_MOBILE = re.compile(r"1[3-9][0-9]{9}")
_E164 = re.compile(r"\+[1-9][0-9]{7,14}")


def normalise_phone(text: str) -> str:
    """A Chinese mobile (11 digits, optionally +86 / 0086) or any E.164 number."""
    compact = _SEPARATORS.sub("", text) if isinstance(text, str) else ""
    if compact.startswith("00"):
        compact = "+" + compact[2:]
    if _CHINESE_MOBILE.fullmatch(compact):
        return CHINA + compact
    if compact.startswith(CHINA) and not _CHINESE_MOBILE.fullmatch(compact[len(CHINA) :]):
        raise InvalidPhone("a +86 number must be an 11-digit mobile number")
    if not _E164.fullmatch(compact):
        raise InvalidPhone("give an 11-digit mobile number or an international +number")
    return compact


def mask_phone(phone: str) -> str:
    """138****5678 for a Chinese mobile; +447****5678 otherwise."""
    national = phone[len(CHINA) :] if phone.startswith(CHINA) else phone
    keep = 3 if national[0] != "+" else 4
    return f"{national[:keep]}****{national[-4:]}"
