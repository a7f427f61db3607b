"""`serve` migrates first unless told not to (a deployment's migrate job did it)."""

from __future__ import annotations

import os
import pickle
import sqlite3
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from click.testing import CliRunner

from app import cli as cli_module
from app.core.metrics import MULTIPROC_ENV
from app.core.server import LimitedHttpToolsProtocol


def served_tables(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, *args: str) -> set[str]:
    """The tables of a new SQLite database once `serve ARGS` would start serving."""
    database = tmp_path / "app.db"
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{database}")
    monkeypatch.setenv("REDIS_URL", "")
    served: list[str] = []
    # The edge: uvicorn would serve until stopped.
    monkeypatch.setattr(uvicorn, "run", lambda app, **_: served.append(app))
    result = CliRunner().invoke(cli_module.cli, ["serve", *args])
    assert result.exit_code == 0, result.output
    assert served == ["app.main:create_app"]
    with sqlite3.connect(database) as connection:
        rows = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        return {name for (name,) in rows}


def test_serve_migrates_before_serving(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert "alembic_version" in served_tables(monkeypatch, tmp_path)


def test_serve_no_migrate_serves_without_migrating(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert served_tables(monkeypatch, tmp_path, "--no-migrate") == set()


def test_serve_with_workers_shares_an_emptied_metrics_dir_with_them(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    (metrics_dir / "counter_4242.db").write_bytes(b"left by a previous run")
    monkeypatch.setenv("METRICS_MULTIPROC_DIR", str(metrics_dir))
    monkeypatch.setenv(MULTIPROC_ENV, "")  # so that the test leaves the environment as it was
    served_tables(monkeypatch, tmp_path, "--no-migrate", "--workers", "2")
    assert list(metrics_dir.iterdir()) == []
    # What each worker process, a fresh interpreter, gives prometheus-client at import.
    assert os.environ[MULTIPROC_ENV] == str(metrics_dir)


def test_serve_hands_every_worker_process_its_limits_on_clients(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """uvicorn pickles its options to each `--workers` process: the limits survive it."""
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'app.db'}")
    monkeypatch.setenv("SERVER_HEADER_TIMEOUT", "3.5")
    monkeypatch.setenv("SERVER_LIMIT_CONCURRENCY", "64")
    options: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **given: options.update(given))
    result = CliRunner().invoke(cli_module.cli, ["serve", "--no-migrate", "--workers", "2"])
    assert result.exit_code == 0, result.output
    protocol = pickle.loads(pickle.dumps(options["http"]))  # noqa: S301 - our own object
    assert isinstance(protocol, partial)
    assert protocol.func is LimitedHttpToolsProtocol
    assert protocol.keywords["limits"].header_timeout == 3.5
    assert options["limit_concurrency"] == 64
