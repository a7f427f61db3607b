"""The suite's order under xdist: every worker starts with its share of the long tests,
and the tests of a `one_worker` module stay together."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import cast

import pytest

from tests.conftest import dealing_unit, long_ones_first


def shares(items: list[str], workers: int) -> list[list[str]]:
    """The contiguous shares `--dist worksteal` first gives each worker."""
    result, rest = [], items
    for worker in range(workers):
        size = len(rest) // (workers - worker)
        result.append(rest[:size])
        rest = rest[size:]
    return result


def each_long_one(item: str) -> str | None:
    return item if item.startswith("long") else None


def test_each_worker_starts_with_its_share_of_the_long_tests() -> None:
    items = [f"short{n}" for n in range(20)] + ["long0", "long1", "long2", "long3", "long4"]
    ordered = long_ones_first(items, 3, each_long_one)
    assert sorted(ordered) == sorted(items)
    assert [share[:2] for share in shares(ordered, 3)] == [
        ["long0", "long3"],
        ["long1", "long4"],
        ["long2", "short12"],
    ]


def test_the_tests_of_one_unit_start_one_share_together() -> None:
    """Modules `a` and `b`, whose tests share a module fixture's processes, and a long test,
    dealt in the order they first appear."""
    items = [f"short{n}" for n in range(10)] + ["a.1", "long", "b.1", "a.2", "b.2", "a.3"]
    ordered = long_ones_first(
        items, 2, lambda item: None if item.startswith("short") else item.split(".")[0]
    )
    assert sorted(ordered) == sorted(items)
    assert [share[:6] for share in shares(ordered, 2)] == [
        ["a.1", "a.2", "a.3", "b.1", "b.2", "short0"],
        ["long", "short3", "short4", "short5", "short6", "short7"],
    ]


def test_without_workers_the_long_tests_come_first_in_their_order() -> None:
    items = ["a", "long1", "b", "long2"]
    assert long_ones_first(items, 1, each_long_one) == ["long1", "long2", "a", "b"]


def an_item(nodeid: str, *markers: str) -> pytest.Item:
    """What `dealing_unit` reads of a collected test: its id, file and markers."""
    item = SimpleNamespace(
        nodeid=nodeid,
        path=Path(nodeid.split("::", maxsplit=1)[0]),
        get_closest_marker=lambda name: name if name in markers else None,
    )
    return cast(pytest.Item, item)


def test_a_one_worker_module_is_one_unit_and_a_long_test_its_own() -> None:
    shared = [an_item(f"tests/test_workers.py::test_{n}", "one_worker") for n in range(2)]
    long = an_item("tests/test_copy.py::test_copy", "runs_long")
    assert {dealing_unit(item) for item in shared} == {"tests/test_workers.py"}
    assert dealing_unit(long) == "tests/test_copy.py::test_copy"
    long_and_shared = an_item("tests/test_server.py::test_slow", "one_worker", "runs_long")
    assert dealing_unit(long_and_shared) == "tests/test_server.py"  # the module wins
    assert dealing_unit(an_item("tests/test_fast.py::test_fast")) is None
