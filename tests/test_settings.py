"""The settings: every variable README's table lists is read, each by its capability's
model, and a bad value is refused naming its variable, without a traceback."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from zhifu.cli.main import app
from zhifu.errors import InvalidSetting
from zhifu.settings import Settings

README = Path(__file__).parents[1] / "README.md"

# A value for each variable, other than its default.
EXAMPLES = {
    "ZHIFU_LOG_LEVEL": "warning",
    "ZHIFU_HOST": "0.0.0.0",
    "ZHIFU_PORT": "8081",
    "ZHIFU_DATA_DIR": "/srv/zhifu",
    "ZHIFU_DATABASE_URL": "postgresql://zhifu@db.example/zhifu",
    "ZHIFU_DEMO": "yes",
    "ZHIFU_KEY_PASSPHRASE": "correct horse battery staple",
    "ZHIFU_MAX_BODY_BYTES": "2048",
    "ZHIFU_WEBHOOK_ALLOW_HOSTS": "127.0.0.1, 10.0.0.0/8",
    "ZHIFU_DB_POOL_SIZE": "7",
    "ZHIFU_BANK_LATENCY_MS": "25",
    "ZHIFU_BANK_SETTLE_DELAY_S": "0.5",
}


def readme_variables() -> list[str]:
    """The variables of README's table under "Environment variables" (not the tests')."""
    text = README.read_text(encoding="utf-8")
    table = text.split("### Environment variables", 1)[1].split("Read by the tests only", 1)[0]
    return re.findall(r"^\| `(ZHIFU_\w+)` \|", table, flags=re.MULTILINE)


def settings_variables() -> list[str]:
    return [
        variable for model in Settings.capabilities().values() for variable in model.variables()
    ]


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for variable in settings_variables():
        monkeypatch.delenv(variable, raising=False)
    return monkeypatch


def test_the_settings_read_exactly_the_readme_variables() -> None:
    assert len(readme_variables()) == len(EXAMPLES)
    assert sorted(settings_variables()) == sorted(readme_variables()) == sorted(EXAMPLES)


@pytest.mark.parametrize("variable", sorted(EXAMPLES))
def test_each_variable_changes_its_setting(clean_env: pytest.MonkeyPatch, variable: str) -> None:
    defaults = Settings.from_env()
    clean_env.setenv(variable, EXAMPLES[variable])
    assert Settings.from_env() != defaults


def test_the_values_are_read_as_their_types(clean_env: pytest.MonkeyPatch) -> None:
    for variable, value in EXAMPLES.items():
        clean_env.setenv(variable, value)
    settings = Settings.from_env()
    assert (settings.server.host, settings.server.port) == ("0.0.0.0", 8081)
    assert settings.server.max_body_bytes == 2048 and settings.server.demo
    assert settings.server.log_level == "WARNING"
    assert settings.db.data_dir == Path("/srv/zhifu") and settings.db.db_pool_size == 7
    assert settings.db.database_url == "postgresql://zhifu@db.example/zhifu"
    assert settings.webhooks.allow_hosts == ("127.0.0.1", "10.0.0.0/8")
    assert (settings.bank.latency_ms, settings.bank.settle_delay_s) == (25.0, 0.5)
    assert settings.openplatform.key_passphrase == "correct horse battery staple"
    assert "correct horse" not in repr(settings)


def test_empty_is_unset_and_options_win(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("ZHIFU_DATABASE_URL", "")
    clean_env.setenv("ZHIFU_PORT", "")
    clean_env.setenv("ZHIFU_DB_POOL_SIZE", "7")
    settings = Settings.from_env(db={"db_pool_size": 3, "data_dir": None}, server={"port": 9000})
    assert settings.db.database_url is None and settings.db.db_pool_size == 3
    assert settings.server.port == 9000


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("ZHIFU_PORT", "abc"),
        ("ZHIFU_PORT", "70000"),
        ("ZHIFU_DB_POOL_SIZE", "0"),
        ("ZHIFU_MAX_BODY_BYTES", "1MB"),
        ("ZHIFU_BANK_SETTLE_DELAY_S", "-1"),
        ("ZHIFU_DEMO", "perhaps"),
        ("ZHIFU_LOG_LEVEL", "LOUD"),
    ],
)
def test_a_bad_value_names_its_variable(
    clean_env: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    clean_env.setenv(variable, value)
    with pytest.raises(InvalidSetting, match=f"^{variable}: "):
        Settings.from_env()


def test_the_cli_reports_a_bad_value_in_one_line(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("ZHIFU_DB_POOL_SIZE", "abc")
    result = CliRunner().invoke(app, ["migrate"])
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)  # typer's exit, not an error raised
    said = result.output
    assert "invalid_setting" in said and "ZHIFU_DB_POOL_SIZE" in said
    assert "Traceback" not in said
