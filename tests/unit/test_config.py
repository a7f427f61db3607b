"""Settings defaults and the production safety checks."""

from __future__ import annotations

import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

from app.cli import cli
from app.core.config import DEV_SECRET_KEY, ConfigurationError, Settings

STRONG_KEY = SecretStr("k" * 48)
DEV_KEY = SecretStr(DEV_SECRET_KEY)


def test_defaults_run_embedded_with_no_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    settings = Settings(_env_file=None)
    assert settings.database_url == "sqlite+aiosqlite:///./var/app.db"
    assert settings.redis_url == ""
    assert settings.is_sqlite
    assert settings.show_docs
    assert settings.trusted_proxies == ["127.0.0.1"]


@pytest.mark.parametrize("key", [DEV_SECRET_KEY, "short-but-random"])
def test_production_refuses_a_default_or_short_secret(key: str) -> None:
    with pytest.raises(ConfigurationError, match="SECRET_KEY") as raised:
        Settings(_env_file=None, environment="production", secret_key=SecretStr(key))
    assert key not in str(raised.value)


def test_production_hides_docs_unless_enabled() -> None:
    production = Settings(_env_file=None, environment="production", secret_key=STRONG_KEY)
    assert not production.show_docs
    enabled = Settings(
        _env_file=None, environment="production", secret_key=STRONG_KEY, docs_enabled=True
    )
    assert enabled.show_docs


def test_cli_names_the_bad_setting_and_exits_non_zero(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("SECRET_KEY", "tiny")
    result = CliRunner().invoke(cli, ["migrate"])
    assert result.exit_code == 2
    assert "SECRET_KEY" in result.output
    assert "tiny" not in result.output


def test_staging_refuses_the_public_development_key() -> None:
    with pytest.raises(ConfigurationError, match="SECRET_KEY") as raised:
        Settings(_env_file=None, environment="staging", secret_key=DEV_KEY)
    assert DEV_SECRET_KEY not in str(raised.value)
    assert Settings(_env_file=None, environment="staging", secret_key=STRONG_KEY)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_local_serves_with_the_development_key_on_loopback(host: str) -> None:
    Settings(_env_file=None, environment="local", secret_key=DEV_KEY).check_serving_on(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "api.example.com"])
def test_local_refuses_the_development_key_on_a_reachable_host(host: str) -> None:
    with pytest.raises(ConfigurationError, match="SECRET_KEY"):
        Settings(_env_file=None, environment="local", secret_key=DEV_KEY).check_serving_on(host)
    Settings(_env_file=None, environment="local", secret_key=STRONG_KEY).check_serving_on(host)


def test_serve_on_every_interface_with_the_development_key_exits_2_naming_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ENVIRONMENT", "local")
    monkeypatch.setenv("SECRET_KEY", DEV_SECRET_KEY)
    # Were it not refused, serving would fail on this database instead (exit 1, no hang).
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:1/nowhere")
    result = CliRunner().invoke(cli, ["serve", "--host", "0.0.0.0"])
    assert result.exit_code == 2
    assert "SECRET_KEY" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert DEV_SECRET_KEY not in result.output
