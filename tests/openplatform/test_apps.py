"""Apps, the platform key, and the operator commands that manage them."""

from __future__ import annotations

import base64
import json
import tempfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.openplatform.alipay_client import new_key, pkcs1_public_pem, spki_pem
from tests.payments.conftest import Shop
from zhifu.cli.main import app as cli
from zhifu.errors import InvalidRequest, NotFound
from zhifu.openplatform.keys import PlatformKeys
from zhifu.openplatform.signing import InvalidKey, load_public_key
from zhifu.runtime import Runtime

KEY = new_key()


async def test_an_app_gets_a_16_digit_app_id_and_keeps_its_key_as_spki(
    runtime: Runtime, shop: Shop
) -> None:
    merchant = await shop.merchant(sandbox=True)
    app = await runtime.openplatform.create_app(merchant.id, pkcs1_public_pem(KEY), sandbox=True)
    assert len(app.app_id) == 16 and app.app_id.isdigit()
    assert app.public_key == spki_pem(KEY) and app.sandbox and not app.isv
    assert app.may_call("alipay.trade.pay") and not app.may_call("alipay.trade.order.settle")
    assert await runtime.openplatform.apps.get(app.app_id) == app


async def test_bad_apps_are_refused(runtime: Runtime, shop: Shop) -> None:
    merchant = await shop.merchant()
    with pytest.raises(InvalidKey):
        await runtime.openplatform.create_app(merchant.id, spki_pem(new_key(1024)))
    with pytest.raises(InvalidRequest):
        await runtime.openplatform.create_app(
            merchant.id, spki_pem(KEY), methods=["alipay.trade.order.settle"]
        )
    with pytest.raises(NotFound):
        await runtime.openplatform.create_app(2**62, spki_pem(KEY))


async def test_every_process_signs_with_the_one_platform_key(runtime: Runtime) -> None:
    first = await runtime.openplatform.platform_public_key()
    another = await PlatformKeys(runtime.db, runtime.clock).current()
    assert another.public_key_pem == first and "private" in repr(another)
    assert load_public_key(first).key_size == 2048


def test_cli_creates_an_app_and_prints_the_platform_key(database_url: str) -> None:
    runner = CliRunner()
    where = ["--database-url", database_url, "--data-dir", tempfile.mkdtemp()]
    made = runner.invoke(cli, ["merchant", "create", "--name", "Tea House", "--json", *where])
    merchant_id = str(json.loads(made.stdout)["id"])
    key_file = Path(tempfile.mkdtemp()) / "app.pem"
    key_file.write_text(spki_pem(KEY))
    create = ["app", "create", "--merchant", merchant_id, "--public-key", str(key_file)]
    plain = runner.invoke(cli, [*create, *where])
    assert plain.exit_code == 0 and plain.stdout.strip().isdigit(), plain.output
    as_json = json.loads(runner.invoke(cli, [*create, "--isv", "--json", *where]).stdout)
    assert as_json["isv"] is True and as_json["merchant_id"] == int(merchant_id)

    shown = runner.invoke(cli, ["app", "platform-key", *where])
    assert shown.exit_code == 0 and shown.stdout.startswith("-----BEGIN PUBLIC KEY-----")
    assert "PRIVATE" not in shown.stdout

    key_file.write_text("not a key")
    assert runner.invoke(cli, [*create, *where]).exit_code == 1


def test_cli_makes_rsa_apps_and_aes_keys(database_url: str) -> None:
    runner = CliRunner()
    where = ["--database-url", database_url, "--data-dir", tempfile.mkdtemp()]
    made = runner.invoke(cli, ["merchant", "create", "--name", "Tea House", "--json", *where])
    key_file = Path(tempfile.mkdtemp()) / "app.pem"
    key_file.write_text(spki_pem(KEY))
    create = ["app", "create", "--merchant", str(json.loads(made.stdout)["id"])]
    legacy = runner.invoke(
        cli, [*create, "--public-key", str(key_file), "--sign-type", "RSA", "--json", *where]
    )
    app = json.loads(legacy.stdout)
    assert app["sign_type"] == "RSA", legacy.output

    first = runner.invoke(cli, ["app", "aes-key", app["app_id"], *where])
    assert first.exit_code == 0 and len(base64.b64decode(first.stdout.strip())) == 16
    second = json.loads(
        runner.invoke(cli, ["app", "aes-key", app["app_id"], "--json", *where]).stdout
    )
    assert second["aes_key"] != first.stdout.strip()  # a new key replaces the old
    assert runner.invoke(cli, ["app", "aes-key", "2021000000000000", *where]).exit_code == 1
