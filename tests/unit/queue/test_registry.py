"""`@task` marks functions without registering them anywhere; modules are scanned for them."""

from __future__ import annotations

import sys
from types import ModuleType

import pytest

from app.core.queue import NotATaskError, TaskOptions, task, task_options, tasks_in
from app.core.queue.registry import task_labels


@task(retries=5, schedule="*/5 * * * *")
async def nightly() -> None:
    """A marked task."""


async def unmarked() -> None:
    """Not a task."""


def test_task_records_its_name_and_options_and_returns_the_function_itself() -> None:
    assert task_options(nightly) == TaskOptions(
        name=f"{__name__}:nightly", retries=5, schedule="*/5 * * * *"
    )
    assert nightly.__name__ == "nightly"


def test_an_unmarked_function_is_not_a_task() -> None:
    with pytest.raises(NotATaskError, match="unmarked is not marked with @task"):
        task_options(unmarked)


def test_tasks_in_finds_tasks_defined_in_a_module_but_not_those_it_imports() -> None:
    module = ModuleType("fake_tasks")
    sys.modules[module.__name__] = module
    try:

        @task()
        async def own() -> None: ...

        own.__module__ = module.__name__
        module.own = own  # type: ignore[attr-defined]
        module.imported = nightly  # type: ignore[attr-defined]
        module.helper = unmarked  # type: ignore[attr-defined]
        assert tasks_in([module]) == [own]
    finally:
        del sys.modules[module.__name__]


def test_a_task_that_sets_retries_carries_its_attempt_count() -> None:
    assert task_labels(task_options(nightly)) == {"max_retries": 6}
    assert task_labels(TaskOptions(name="x:y")) == {}
