"""The CI files shipped for the kit's users are valid (check-jsonschema's bundled schemas,
offline) and run the project's own checks."""

from __future__ import annotations

from pathlib import Path

import pytest
from check_jsonschema import main as check_jsonschema

from tests.manifests import PROJECT_ROOT, load_yaml

WORKFLOW = PROJECT_ROOT / ".github" / "workflows" / "ci.yml"
DEPENDABOT = PROJECT_ROOT / ".github" / "dependabot.yml"


@pytest.mark.parametrize(
    ("schema", "path"),
    [("vendor.github-workflows", WORKFLOW), ("vendor.dependabot", DEPENDABOT)],
)
def test_file_matches_its_schema(
    schema: str, path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        check_jsonschema(["--builtin-schema", schema, str(path)])
    assert exit_.value.code == 0, capsys.readouterr().out


def test_workflow_runs_make_test_with_coverage_on_postgres_and_redis_and_builds_the_image() -> None:
    jobs = load_yaml(WORKFLOW)["jobs"]
    assert {"postgres", "redis"} <= jobs["test"]["services"].keys()
    assert {"run": "make test"} in jobs["test"]["steps"]
    assert jobs["test"]["env"]["COVERAGE"] == "1"
    build = [step for step in jobs["image"]["steps"] if "docker/build-push" in step.get("uses", "")]
    assert build


def test_dependabot_updates_python_actions_and_docker() -> None:
    updates = load_yaml(DEPENDABOT)["updates"]
    assert {update["package-ecosystem"] for update in updates} == {
        "uv",
        "github-actions",
        "docker",
    }


def test_pre_commit_hooks_run_the_locked_tools_of_the_venv() -> None:
    [local] = load_yaml(PROJECT_ROOT / ".pre-commit-config.yaml")["repos"]
    hooks = {hook["id"]: hook["entry"] for hook in local["hooks"]}
    assert hooks.keys() == {"ruff", "ruff-format", "mypy", "lint-imports"}
    assert all(entry.startswith(".venv/bin/") for entry in hooks.values())
    assert all((PROJECT_ROOT / entry.split()[0]).exists() for entry in hooks.values())
