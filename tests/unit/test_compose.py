"""The compose files set only real settings and run only real commands.

No Docker engine runs here: the files are checked statically (this test, and
`check-jsonschema --builtin-schema vendor.compose-spec` in `make lint`).
"""

from __future__ import annotations

import importlib.util
import json
import re
import tomllib
from typing import Any

from tests.manifests import (
    APP_PREFIX,
    PROJECT_ROOT,
    SETTING_NAMES,
    app_command,
    cli_options,
    env_names,
    load_yaml,
)

PRODUCTION = load_yaml(PROJECT_ROOT / "docker-compose.yaml")
DEVELOPMENT = load_yaml(PROJECT_ROOT / "docker-compose.dev.yaml")
APP_SERVICES = {"migrate", "api", "worker", "scheduler"}
EXTRAS = '${EXTRAS:+--extra "$EXTRAS"}'  # the Dockerfile's uv sync: the extra, if any


def image_command() -> list[str]:
    [line] = [line for line in (PROJECT_ROOT / "Dockerfile").read_text().splitlines()
              if line.startswith("CMD ")]  # fmt: skip
    command: list[str] = json.loads(line.removeprefix("CMD "))
    return command


def assert_runs_a_real_command(argv: list[str]) -> None:
    commands = cli_options()
    name, options = app_command(argv)
    assert name in commands, argv
    assert set(options) <= commands[name], argv


def test_app_services_set_real_settings_and_run_real_commands() -> None:
    production_services: dict[str, Any] = PRODUCTION["services"]
    assert {name for name, spec in production_services.items() if "build" in spec} == APP_SERVICES
    for services in (production_services, DEVELOPMENT["services"]):
        for name in APP_SERVICES & services.keys():
            spec = services[name]
            assert set(env_names(spec.get("environment"))) <= SETTING_NAMES, name
            if "command" in spec:
                assert_runs_a_real_command(spec["command"])
            probe = spec.get("healthcheck", {}).get("test", [])
            if probe[1:4] == ["python", "-m"]:
                assert importlib.util.find_spec(probe[3]) is not None, probe
    assert_runs_a_real_command(image_command())
    assert image_command()[:3] == APP_PREFIX


def test_production_rotates_logs_reads_env_file_and_checks_queue_processes() -> None:
    services = PRODUCTION["services"]
    assert all(spec["logging"]["options"]["max-size"] for spec in services.values())
    for name in APP_SERVICES:
        assert services[name]["env_file"] == [{"path": ".env", "required": False}]
    for name in ("worker", "scheduler"):
        heartbeat = services[name]["command"][-1]
        assert services[name]["healthcheck"]["test"][-1] == heartbeat
    assert services["scheduler"]["deploy"]["replicas"] == 1


def test_development_runs_locally_with_reload_and_loopback_ports() -> None:
    services = DEVELOPMENT["services"]
    assert services["api"]["environment"]["ENVIRONMENT"] == "local"
    assert "--reload" in services["api"]["command"]
    assert "./app:/app/app:ro" in services["api"]["volumes"]
    for name in ("db", "redis"):
        assert all(port.startswith("127.0.0.1:") for port in services[name]["ports"])


def test_the_proxy_never_routes_metrics_outside() -> None:
    caddyfile = (PROJECT_ROOT / "deploy" / "Caddyfile").read_text()
    matcher = re.search(r"^\s*@(\w+) path (.+)$", caddyfile, re.MULTILINE)
    assert matcher is not None
    assert set(matcher[2].split()) == {"/metrics", "/metrics/*"}
    assert re.search(rf"handle @{matcher[1]} \{{\s*respond 404\s*\}}", caddyfile)


def test_every_app_setting_yields_to_the_env_file() -> None:
    """A value under `environment` overrides `env_file`: each one is `${SAME_NAME...}`, so
    that a variable of `.env` (SMTP_HOST, DATABASE_URL, ...) always wins."""
    for name in APP_SERVICES:
        environment = PRODUCTION["services"][name]["environment"]
        for variable, value in environment.items():
            assert str(value).startswith(f"${{{variable}:"), (name, variable, value)


def test_secrets_are_required_and_never_defaulted() -> None:
    text = (PROJECT_ROOT / "docker-compose.yaml").read_text()
    for secret in ("SECRET_KEY", "POSTGRES_PASSWORD"):
        assert re.findall(rf"\$\{{{secret}(:.)?", text), secret
        assert set(re.findall(rf"\$\{{{secret}(:.)?", text)) == {":?"}, secret


def test_app_containers_are_read_only_unprivileged_and_every_container_limited() -> None:
    services = PRODUCTION["services"]
    for name in APP_SERVICES:
        spec = services[name]
        assert spec["read_only"] is True, name
        assert spec["tmpfs"] == ["/tmp"], name  # noqa: S108 - a tmpfs of its own
        assert spec["cap_drop"] == ["ALL"], name
        assert "no-new-privileges:true" in spec["security_opt"], name
        assert spec["deploy"]["resources"]["limits"]["memory"], name
    for name in ("db", "redis", "proxy", "mailpit"):
        assert services[name]["deploy"]["resources"]["limits"]["memory"], name


def test_the_proxy_compresses_serves_https_for_a_domain_and_checks_itself() -> None:
    caddyfile = (PROJECT_ROOT / "deploy" / "Caddyfile").read_text()
    assert re.search(r"^\{\$DOMAIN::80\} \{$", caddyfile, re.MULTILINE)  # plain :80 without
    assert re.search(r"^\s*encode zstd gzip$", caddyfile, re.MULTILINE)
    proxy = PRODUCTION["services"]["proxy"]
    assert proxy["environment"]["DOMAIN"] == "${DOMAIN:-}"
    assert any(port.endswith(":443") for port in proxy["ports"])
    assert "caddy-data:/data" in " ".join(proxy["volumes"])
    assert proxy["healthcheck"]["test"][:2] == ["CMD", "wget"]


def test_the_image_takes_an_extra_of_the_project_from_compose_and_installs_it() -> None:
    """`EXTRAS` (.env) reaches the Dockerfile's ARG, whose every `uv sync` installs it."""
    dockerfile = (PROJECT_ROOT / "Dockerfile").read_text()
    assert re.search(r'^ARG EXTRAS=""$', dockerfile, re.MULTILINE)
    syncs = re.findall(r"uv sync [^\n\\]*", dockerfile)
    assert len(syncs) == 2
    assert all(sync.rstrip().endswith(EXTRAS) for sync in syncs), syncs
    for name in APP_SERVICES:
        assert PRODUCTION["services"][name]["build"]["args"] == {"EXTRAS": "${EXTRAS:-}"}
    pyproject = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())
    assert "observability" in pyproject["project"]["optional-dependencies"]
    assert "EXTRAS=observability" in (PROJECT_ROOT / ".sample.env").read_text()
