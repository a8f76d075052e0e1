"""Fill an experiment with runs through the low-level client, the fastest path both tools offer.

Search is measured on these runs; the fluent API would make seeding 100,000 runs far slower.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tools import Tool

from data import RunPayload, now_ms


def seed_runs(tool: Tool, client: Any, experiment_id: str, payloads: Sequence[RunPayload]) -> None:
    """One finished run per payload: create_run + log_batch + set_terminated."""
    metric, param, tag = tool.entities.Metric, tool.entities.Param, tool.entities.RunTag
    timestamp = now_ms()
    for payload in payloads:
        run_id = client.create_run(experiment_id).info.run_id
        client.log_batch(
            run_id,
            metrics=[
                metric(key=k, value=v, timestamp=timestamp, step=0)
                for k, v in payload.metrics.items()
            ],
            params=[param(key=k, value=v) for k, v in payload.params.items()],
            tags=[tag(key=k, value=v) for k, v in payload.tags.items()],
        )
        client.set_terminated(run_id, status="FINISHED")


def expected_filtered_rows(payloads: Sequence[RunPayload], limit: int) -> int:
    """How many rows the benchmark filter must return, to catch a fast but wrong search."""
    matches = sum(1 for p in payloads if p.metrics["m1"] > 0.5 and p.params["p1"] == "a")
    return min(matches, limit)
