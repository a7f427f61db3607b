"""One line of the bench's table: the rounds of a route (or scenario) on the kit and, when
it has one, on the reference, summed up side by side (median requests/s and latency
percentiles, server CPU per request, failures) and compared into ratios."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.load import LoadResult


def median(results: Sequence[LoadResult], measure: Callable[[LoadResult], float]) -> float:
    """The median of `measure` over the rounds (0: no round)."""
    return statistics.median(measure(result) for result in results) if results else 0.0


def cpu_us(results: Sequence[LoadResult]) -> float | None:
    """The median of the server's CPU microseconds per request (None: not measured)."""
    measured = [result.server_cpu_us for result in results if result.server_cpu_us]
    return statistics.median(measured) if measured else None


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """`numerator / denominator`; None when either is missing or zero: nothing compares."""
    return numerator / denominator if numerator and denominator else None


def rounded(value: float | None, digits: int) -> float | None:
    return round(value, digits) if value is not None else None


def side(results: Sequence[LoadResult]) -> dict[str, Any] | None:
    """One server's rounds summed up (None: the row does not run on that server)."""
    if not results:
        return None
    return {
        "rps": round(median(results, lambda result: result.rps), 1),
        "p50_ms": round(median(results, lambda result: result.p50_ms), 2),
        "p99_ms": round(median(results, lambda result: result.p99_ms), 2),
        "failures": sum(result.failures for result in results),
        "server_cpu_us": rounded(cpu_us(results), 1),
        "seconds": round(sum(result.seconds for result in results), 1),
        "rounds": [result.as_dict() for result in results],
    }


@dataclass
class Row:
    """The kit's rounds and, when the row compares, the reference's."""

    key: str
    label: str
    kit: list[LoadResult] = field(default_factory=list)
    reference: list[LoadResult] = field(default_factory=list)
    note: str = ""

    def kit_rps(self) -> float:
        return median(self.kit, lambda result: result.rps)

    def reference_rps(self) -> float:
        return median(self.reference, lambda result: result.rps)

    def kit_p99(self) -> float:
        return median(self.kit, lambda result: result.p99_ms)

    def rps_ratio(self) -> float | None:
        """Kit requests/s over the reference's: 0 when the kit completed none, None when
        either side did not run."""
        reference = self.reference_rps()
        return self.kit_rps() / reference if self.kit and reference else None

    def cpu_ratio(self) -> float | None:
        """Reference CPU per request over the kit's: like the RPS ratio, higher is better,
        but it hardly moves when other work shares the cores."""
        return ratio(cpu_us(self.reference), cpu_us(self.kit))

    def failures(self) -> tuple[int, int]:
        """Failed requests of the kit and of the reference in all rounds."""
        return (
            sum(result.failures for result in self.kit),
            sum(result.failures for result in self.reference),
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "kit": side(self.kit),
            "reference": side(self.reference),
            "ratio": rounded(self.rps_ratio(), 3),
            "cpu_ratio": rounded(self.cpu_ratio(), 3),
            "note": self.note,
        }
