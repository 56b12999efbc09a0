"""Each table has one owning package, and only its owner writes it.

Other packages read a table through its owner's face (or, for the read models in
reporting, with SQL that only reads). The map below is the architecture's statement of
who owns what; the test reads every SQL string in src/zhifu and fails when a package
inserts into, updates, deletes from or copies into a table it does not own, or when a
migration creates a table that no package owns.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "zhifu"

OWNERS: dict[str, set[str]] = {
    "db": {"idempotency_key", "rate_limit", "sign_in_lockout"},
    "ledger": {"ledger_account", "ledger_balance", "ledger_entry", "ledger_posting", "ledger_hold"},
    "events": {"outbox", "event_endpoint", "event_delivery", "event_delivery_attempt"},
    "identity": {"app_user", "user_session", "bank_card", "kyc_request"},
    "funding": {"funding_order", "bank_sim_transfer"},
    "merchants": {
        "merchant",
        "merchant_api_key",
        "store",
        "terminal",
        "merchant_login",
        "merchant_portal_session",
    },
    "payments": {
        "trade",
        "refund",
        "payment_device",
        "used_payment_code",
        "used_tap",
        "card_payment",
        "payout",
    },
    "openplatform": {
        "open_app",
        "platform_key",
        "app_authorisation",
        "app_auth_code",
        "open_trade_origin",
        "open_bill_download",
        "open_app_aes_key",
        "open_user_id",
        "certificate_authority",
        "issued_certificate",
        "open_api_nonce",
    },
}

_CREATED = re.compile(r"create\s+table\s+(?:if\s+not\s+exists\s+)?([a-z_][a-z0-9_]*)", re.I)
_WRITES = re.compile(
    r"\b(?:insert\s+into|update|delete\s+from|copy)\s+([a-z_][a-z0-9_]*)\b", re.I | re.S
)
# Words that follow "update" or "copy" in SQL without naming a table.
_NOT_TABLES = {"set", "skip", "of", "nowait", "for"}


def _owner_of(table: str) -> str | None:
    return next((package for package, tables in OWNERS.items() if table in tables), None)


def _sql_strings(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    ]


def _package(path: Path) -> str:
    parts = path.relative_to(SRC).parts
    return parts[0] if len(parts) > 1 else path.stem


def _migrations() -> list[Path]:
    return sorted((SRC / "db" / "migrations" / "versions").glob("*.py"))


def test_every_table_has_one_owner() -> None:
    created = {
        table
        for path in _migrations()
        for text in _sql_strings(path)
        for table in _CREATED.findall(text)
    }
    owned = [table for tables in OWNERS.values() for table in tables]
    assert len(owned) == len(set(owned)), "a table is listed under two owners"
    assert created - set(owned) == set(), "tables no package owns"
    assert set(owned) - created == set(), "owned tables no migration creates"


def test_only_the_owner_writes_a_table() -> None:
    migrations = set(_migrations())
    breaches = []
    for path in sorted(SRC.rglob("*.py")):
        if path in migrations:
            continue
        package = _package(path)
        for text in _sql_strings(path):
            for table in _WRITES.findall(text):
                table = table.lower()
                owner = _owner_of(table)
                if table in _NOT_TABLES or owner is None:
                    continue
                if owner != package:
                    breaches.append(f"{path.relative_to(SRC)} writes {table} (owned by {owner})")
    assert breaches == []


def test_the_check_sees_a_write() -> None:
    """The pattern finds the statements it must (a check that cannot fail is no check)."""
    found = _WRITES.findall("update trade set state = 'paid'; insert into\n  refund (id)")
    assert [t.lower() for t in found] == ["trade", "refund"]
