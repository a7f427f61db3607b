"""What deployment files (compose, Kubernetes, CI) may name: real settings, real commands."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from app.cli import cli
from app.core.config import Settings

PROJECT_ROOT = Path(__file__).resolve().parents[1]
APP_PREFIX = ["python", "-m", "app"]
SETTING_NAMES = frozenset(name.upper() for name in Settings.model_fields)


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def load_yaml_documents(path: Path) -> list[Any]:
    return [document for document in yaml.safe_load_all(path.read_text()) if document]


def cli_options() -> dict[str, set[str]]:
    """Every command of `python -m app`, with its options."""
    return {
        name: {option for param in command.params for option in param.opts}
        for name, command in cli.commands.items()
    }


def app_command(argv: list[str]) -> tuple[str, list[str]]:
    """The command and options of a `python -m app ...` command line."""
    assert argv[:3] == APP_PREFIX, argv
    return argv[3], [arg for arg in argv[4:] if arg.startswith("--")]


def env_names(environment: Mapping[str, Any] | list[str] | None) -> Iterator[str]:
    """Variable names of a compose `environment` (a mapping or a list of NAME=value)."""
    if isinstance(environment, Mapping):
        yield from environment
    else:
        yield from (item.split("=", 1)[0] for item in environment or [])
