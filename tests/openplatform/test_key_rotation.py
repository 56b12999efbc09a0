"""Platform key rotation with a grace period, on a database of its own (a rotation
changes what every app on the database is signed with) and a clock the test moves.

Each app's answers verify with the key its merchant has configured: the old key until
the grace ends or the merchant switches, the new key for new apps at once.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.exceptions import InvalidSignature
from typer.testing import CliRunner

from tests.conftest import create_database, drop_database, settings_for
from tests.openplatform.alipay_client import AlipayTestClient, new_key, spki_pem
from tests.payments.conftest import Shop
from zhifu.api.app import create_app
from zhifu.cli.main import app as cli
from zhifu.clock import ManualClock
from zhifu.errors import InvalidRequest
from zhifu.openplatform.keys import CACHE_FOR, PlatformKeys
from zhifu.openplatform.signing import load_public_key
from zhifu.runtime import Runtime


@dataclass
class World:
    runtime: Runtime
    http: httpx.AsyncClient
    clock: ManualClock


@pytest.fixture
def fresh_url(database_url: str) -> Iterator[str]:
    """A database of the test's own, on the same server."""
    url = create_database(database_url)
    yield url
    drop_database(database_url, url)


@pytest.fixture
async def world(fresh_url: str) -> AsyncIterator[World]:
    clock = ManualClock()
    settings = settings_for(fresh_url)
    runtime = await Runtime.start(settings, clock=clock)
    transport = httpx.ASGITransport(app=create_app(runtime), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://zhifu.test") as http:
        yield World(runtime, http, clock)
    await runtime.close()


async def new_app(world: World) -> tuple[AlipayTestClient, str]:
    """An app configured with the newest platform key, and its merchant's secret key."""
    merchant, api_key = await world.runtime.payments.merchants.create("Rotating shop")
    key = new_key()
    app = await world.runtime.openplatform.create_app(merchant.id, spki_pem(key))
    newest = await world.runtime.openplatform.platform_public_key()
    client = AlipayTestClient(world.http, app.app_id, key, load_public_key(newest))
    assert api_key.secret_key is not None
    return client, api_key.secret_key


async def answer(world: World, app: AlipayTestClient) -> dict[str, Any]:
    """A signed answer for the app (verified with the key the app has configured)."""
    moment = world.clock.now().strftime("%Y-%m-%d %H:%M:%S")
    return await app.call("alipay.trade.query", {"out_trade_no": "nope"}, timestamp=moment)


def verifies_with(app: AlipayTestClient, pem: str) -> AlipayTestClient:
    app.platform_key = load_public_key(pem)
    return app


async def test_each_app_is_signed_with_its_key_until_the_grace_ends(world: World) -> None:
    keys = world.runtime.openplatform.keys
    old = await keys.current()
    early, _ = await new_app(world)
    switching, secret = await new_app(world)
    assert (await answer(world, early))["sub_code"] == "ACQ.TRADE_NOT_EXIST"

    new = await keys.rotate(timedelta(days=7))
    assert new.key_id != old.key_id and new.public_key_pem != old.public_key_pem
    assert [key.key_id for key in await keys.signing()] == [old.key_id, new.key_id]
    late, _ = await new_app(world)
    assert (
        late.platform_key.public_numbers() == load_public_key(new.public_key_pem).public_numbers()
    )
    for app in (early, switching, late):  # old apps on the old key, the new app on the new
        await answer(world, app)
    with pytest.raises(InvalidSignature):
        await answer(world, verifies_with(early, new.public_key_pem))
    verifies_with(early, old.public_key_pem)

    # The merchant configures the new key, then switches its app over the REST API.
    path = f"/v1/merchant/apps/{switching.app_id}/platform-key"
    headers = {"Authorization": f"Bearer {secret}"}
    shown = (await world.http.get(path, headers=headers)).json()
    assert shown["signing"]["key_id"] == old.key_id and shown["newest"]["key_id"] == new.key_id
    assert "PRIVATE" not in json.dumps(shown)
    switched = await world.http.post(f"{path}/use-newest", headers=headers)
    assert switched.json()["signing"]["key_id"] == new.key_id, switched.text
    await answer(world, verifies_with(switching, new.public_key_pem))
    stranger = await world.http.get(
        f"/v1/merchant/apps/{early.app_id}/platform-key", headers=headers
    )
    assert (stranger.status_code, stranger.json()["code"]) == (404, "app_not_found")

    world.clock.advance(timedelta(days=7) - timedelta(seconds=1))
    await answer(world, early)  # still the old key, one second before the grace ends
    world.clock.advance(timedelta(seconds=1))
    await answer(world, verifies_with(early, new.public_key_pem))
    assert [key.key_id for key in await keys.signing()] == [new.key_id]
    assert (await keys.for_app(early.app_id)).key_id == new.key_id


async def test_another_process_sees_a_rotation_within_the_cache_period(world: World) -> None:
    keys = world.runtime.openplatform.keys
    app, _ = await new_app(world)
    before = await keys.for_app(app.app_id)
    elsewhere = PlatformKeys(world.runtime.db, world.clock)  # another zhifu process
    new = await elsewhere.rotate(timedelta(0))  # the old key retires at once

    assert (await keys.for_app(app.app_id)).key_id == before.key_id  # cached
    world.clock.advance(CACHE_FOR)
    assert (await keys.for_app(app.app_id)).key_id == new.key_id
    fresh, _ = await new_app(world)  # pinned to the new key
    assert (await elsewhere.for_app(fresh.app_id)).key_id == new.key_id
    await answer(world, fresh)
    with pytest.raises(InvalidRequest):
        await keys.rotate(timedelta(days=366))
    with pytest.raises(InvalidRequest):
        await keys.rotate(timedelta(seconds=-1))
    row = await world.runtime.db.fetch_one(
        "select private_key from platform_key where id = %s", (before.key_id,)
    )
    assert row is not None and row["private_key"] == ""  # a retired key's private half is gone


def test_cli_rotates_shows_and_switches(fresh_url: str) -> None:
    runner = CliRunner()
    where = ["--database-url", fresh_url, "--data-dir", tempfile.mkdtemp(), "--json"]

    def run(*args: str) -> Any:
        done = runner.invoke(cli, [*args, *where])
        assert done.exit_code == 0, done.output
        assert "PRIVATE" not in done.stdout
        return json.loads(done.stdout)

    made = run("merchant", "create", "--name", "Key shop")
    key_file = Path(tempfile.mkdtemp()) / "app.pem"
    key_file.write_text(spki_pem(new_key()))
    app_id = run("app", "create", "--merchant", str(made["id"]), "--public-key", str(key_file))[
        "app_id"
    ]
    old = run("app", "platform-key")
    assert old["newest"] and old["public_key"].startswith("-----BEGIN PUBLIC KEY-----")

    rotated = run("app", "rotate-platform-key", "--grace", "7d")
    (retiring,) = rotated["retiring"]
    assert retiring["key_id"] == old["key_id"] and retiring["retires_at"]
    assert run("app", "platform-key")["key_id"] == rotated["new"]["key_id"]
    pinned = run("app", "platform-key", "--app", app_id)
    assert (pinned["key_id"], pinned["app_id"], pinned["newest"]) == (old["key_id"], app_id, False)
    both = run("app", "platform-key", "--all")["keys"]
    assert [key["key_id"] for key in both] == [old["key_id"], rotated["new"]["key_id"]]
    switched = run("app", "use-platform-key", app_id)
    assert switched["key_id"] == rotated["new"]["key_id"]

    bad = runner.invoke(cli, ["app", "rotate-platform-key", "--grace", "a week", *where])
    assert bad.exit_code != 0
    unknown = runner.invoke(cli, ["app", "use-platform-key", "2021999999999999", *where])
    assert unknown.exit_code == 1


async def test_apps_without_a_pin_keep_the_old_key_through_a_rotation(world: World) -> None:
    merchant = await Shop(world.runtime).merchant()
    key = new_key()
    app = await world.runtime.openplatform.create_app(merchant.id, spki_pem(key))
    await world.runtime.db.fetch_one(  # an app from before migration 0009 had no pin
        "update open_app set platform_key_id = null where app_id = %s returning app_id",
        (app.app_id,),
    )
    keys = world.runtime.openplatform.keys
    old = await keys.current()
    await keys.rotate(timedelta(days=1))
    assert (await keys.for_app(app.app_id)).key_id == old.key_id
