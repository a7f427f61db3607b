"""The suite's order under xdist: every worker starts with its share of the long tests."""

from __future__ import annotations

from tests.conftest import long_ones_first


def shares(items: list[str], workers: int) -> list[list[str]]:
    """The contiguous shares `--dist worksteal` first gives each worker."""
    result, rest = [], items
    for worker in range(workers):
        size = len(rest) // (workers - worker)
        result.append(rest[:size])
        rest = rest[size:]
    return result


def test_each_worker_starts_with_its_share_of_the_long_tests() -> None:
    items = [f"short{n}" for n in range(20)] + ["long0", "long1", "long2", "long3", "long4"]
    ordered = long_ones_first(items, 3, lambda item: item.startswith("long"))
    assert sorted(ordered) == sorted(items)
    assert [share[:2] for share in shares(ordered, 3)] == [
        ["long0", "long3"],
        ["long1", "long4"],
        ["long2", "short12"],
    ]


def test_without_workers_the_long_tests_come_first_in_their_order() -> None:
    items = ["a", "LONG1", "b", "LONG2"]
    assert long_ones_first(items, 1, str.isupper) == ["LONG1", "LONG2", "a", "b"]
