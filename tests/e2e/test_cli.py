"""The operator commands, as a person runs them, on an embedded database."""

from __future__ import annotations

import random
import subprocess
from pathlib import Path

from tests.e2e.harness import ZHIFU, cli

CARD = "6222020200112233446"


def test_user_commands_and_verify(tmp_path: Path) -> None:
    phone = f"135{random.randrange(10**8):08d}"
    created = cli(
        "user", "create", "--phone", phone, "--password", "operator-pw-1", "--pin", "135790",
        "--kyc-tier", "2", data_dir=tmp_path,
    )  # fmt: skip
    assert created["kyc_tier"] == 2 and created["has_pin"] is True
    shown = cli("user", "show", phone, data_dir=tmp_path)
    assert shown["id"] == created["id"]
    assert shown["limits"]["single_payment"] == 5_000_000
    assert cli("ledger", "verify", data_dir=tmp_path)["ok"] is True


def test_bad_amount_is_a_clear_error(tmp_path: Path) -> None:
    phone = f"135{random.randrange(10**8):08d}"
    cli("user", "create", "--phone", phone, "--password", "operator-pw-1", data_dir=tmp_path)
    done = subprocess.run(
        [*ZHIFU, "user", "topup", phone, "1.234", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert "invalid_amount" in done.stderr
    assert "Traceback" not in done.stderr


def test_demo_tells_its_story(tmp_path: Path) -> None:
    done = subprocess.run(
        [*ZHIFU, "demo", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "tops up ¥500.00" in done.stdout
    assert "every invariant holds" in done.stdout
