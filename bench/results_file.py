"""The results file of a run (`bench/results/latest.json`): the plan, every row with each
of its rounds, the resources, the targets' verdicts and the notes."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bench.plans import Plan
from bench.rows import Row
from bench.targets import Target


def results(
    plan: Plan,
    rows: Mapping[str, Row],
    *,
    use_wrk: bool,
    resources: Mapping[str, Mapping[str, float]],
    targets: Sequence[Target],
    notes: Sequence[str],
) -> dict[str, Any]:
    return {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "plan": plan.__dict__,
        "client": "wrk" if use_wrk else "python",
        "rows": {key: row.as_dict() for key, row in rows.items()},
        "resources": resources,
        "targets": [target.as_dict() for target in targets],
        "notes": notes,
    }


def write_results(path: Path, data: Mapping[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")
