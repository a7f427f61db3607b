"""Settings defaults and the production safety checks."""

from __future__ import annotations

import base64
import os
import re
import secrets
import sys
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from click.testing import CliRunner
from pydantic import SecretStr

from app.cli import cli
from app.core.config import (
    DEFAULT_DATABASE_URL,
    DEV_SECRET_KEY,
    MIN_SECRET_KEY_BITS,
    PUBLIC_SECRET_KEYS,
    ConfigurationError,
    Settings,
    estimated_entropy_bits,
    missing_observability,
)
from tests.conftest import PRODUCTION_SECRET_KEY
from tests.manifests import PROJECT_ROOT

STRONG_KEY = PRODUCTION_SECRET_KEY
DEV_KEY = SecretStr(DEV_SECRET_KEY)
# Every file of the repository that shows settings to copy (the code and tests aside).
SAMPLE_FILES = [
    PROJECT_ROOT / name for name in (".sample.env", ".test.env", "README.md", "Makefile")
] + [
    path
    for pattern in ("docker-compose*.yaml", "deploy/**/*", "docs/**/*", ".github/**/*", ".ci/*")
    for path in PROJECT_ROOT.glob(pattern)
    if path.is_file()
]
# `SECRET_KEY=value` or `SECRET_KEY: value` at the start of a line, not `${SECRET_KEY...}`.
ASSIGNED_SECRET_KEY = re.compile(
    r"""^\s*(?:export\s+|-\s+)?SECRET_KEY\s*[:=]\s*["']?([^\s"'$#]+)""", re.MULTILINE
)


def test_defaults_need_no_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    settings = Settings(_env_file=None)
    assert settings.database_url == DEFAULT_DATABASE_URL
    assert settings.redis_url == ""
    assert settings.show_docs
    assert settings.trusted_proxies == ["127.0.0.1"]


PREDICTABLE_KEYS = [
    "a" * 40,
    "ab" * 24,
    "0123456789" * 4,
    "password" * 5,
    "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk",
]


@pytest.mark.parametrize(
    "key", [*sorted(PUBLIC_SECRET_KEYS), "short-but-random", *PREDICTABLE_KEYS]
)
def test_production_refuses_a_public_short_or_predictable_secret(key: str) -> None:
    with pytest.raises(ConfigurationError, match="SECRET_KEY") as raised:
        Settings(_env_file=None, environment="production", secret_key=SecretStr(key))
    assert key not in str(raised.value)


def test_every_secret_key_shown_in_the_sample_files_is_refused_as_public() -> None:
    shown = {
        match.group(1): path.relative_to(PROJECT_ROOT)
        for path in SAMPLE_FILES
        for match in ASSIGNED_SECRET_KEY.finditer(path.read_text())
    }
    assert DEV_SECRET_KEY in shown  # the pattern finds what there is to find
    assert {key: path for key, path in shown.items() if key not in PUBLIC_SECRET_KEYS} == {}


@pytest.mark.parametrize(
    "generate",
    [
        lambda: secrets.token_urlsafe(32),
        lambda: secrets.token_urlsafe(48),
        lambda: secrets.token_hex(32),
        lambda: base64.b64encode(os.urandom(32)).decode(),  # openssl rand -base64 32
        lambda: f"{uuid.uuid4()}{uuid.uuid4()}",
    ],
)
def test_production_accepts_random_keys_of_32_bytes_and_more(generate: Callable[[], str]) -> None:
    # The estimate's lowest score over many keys stays far above the bar.
    assert min(estimated_entropy_bits(generate()) for _ in range(500)) > 1.25 * MIN_SECRET_KEY_BITS
    Settings(_env_file=None, environment="production", secret_key=SecretStr(generate()))


def test_the_sample_env_documents_every_setting() -> None:
    sample = (PROJECT_ROOT / ".sample.env").read_text()
    documented = set(re.findall(r"^#? ?([A-Z][A-Z0-9_]*)=", sample, re.MULTILINE))
    assert {name.upper() for name in Settings.model_fields} - documented == set()


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


@pytest.mark.parametrize(
    ("setting", "module", "expected"),
    [
        (
            {"otel_exporter_otlp_endpoint": "http://collector:4318"},
            "opentelemetry.exporter.otlp.proto.http",
            "OTEL_EXPORTER_OTLP_ENDPOINT is set but OpenTelemetry is not installed",
        ),
        (
            {"sentry_dsn": SecretStr("https://key@sentry.invalid/1")},
            "sentry_sdk",
            "SENTRY_DSN is set but Sentry is not installed",
        ),
    ],
)
def test_tracing_or_sentry_without_the_observability_extra_is_refused_saying_what_to_install(
    monkeypatch: pytest.MonkeyPatch, setting: dict[str, Any], module: str, expected: str
) -> None:
    installed = Settings(_env_file=None, **setting)  # the dev group has the extra
    assert missing_observability(installed) is None
    monkeypatch.setitem(sys.modules, module, None)  # its import now fails, as uninstalled
    assert missing_observability(Settings(_env_file=None)) is None  # unset: nothing needed
    with pytest.raises(ConfigurationError, match=expected) as raised:
        Settings(_env_file=None, **setting)
    assert str(raised.value).endswith(
        ": install the observability extra (uv sync --extra observability, "
        "or build the image with --build-arg EXTRAS=observability)"
    )
    assert "key@" not in str(raised.value)
