"""Search results column by column: what a DataFrame is built from, with no Run objects.

Returning 10,000 runs as a table reads ~150,000 rows; placing each value straight into its
column costs a fraction of building entities and flattening them again.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from cairn.entities.run import Run

_NAN = float("nan")
T = TypeVar("T")


@dataclass(slots=True)
class RunColumns:
    """One list per column, all `len(run_ids)` long; missing values are NaN or None."""

    run_ids: list[str] = field(default_factory=list)
    experiment_ids: list[str] = field(default_factory=list)
    statuses: list[str] = field(default_factory=list)
    artifact_uris: list[str] = field(default_factory=list)
    start_times: list[int | None] = field(default_factory=list)
    end_times: list[int | None] = field(default_factory=list)
    metrics: dict[str, list[float]] = field(default_factory=dict)
    params: dict[str, list[str | None]] = field(default_factory=dict)
    tags: dict[str, list[str | None]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.run_ids)

    def metric_column(self, key: str) -> list[float]:
        column = self.metrics.get(key)
        if column is None:
            column = self.metrics[key] = [_NAN] * len(self.run_ids)
        return column

    def text_column(self, group: dict[str, list[str | None]], key: str) -> list[str | None]:
        column = group.get(key)
        if column is None:
            column = group[key] = [None] * len(self.run_ids)
        return column

    @classmethod
    def from_runs(cls, runs: Sequence[Run]) -> RunColumns:
        table = cls(
            run_ids=[r.info.run_id for r in runs],
            experiment_ids=[r.info.experiment_id for r in runs],
            statuses=[r.info.status for r in runs],
            artifact_uris=[r.info.artifact_uri for r in runs],
            start_times=[r.info.start_time for r in runs],
            end_times=[r.info.end_time for r in runs],
        )
        for row, run in enumerate(runs):
            for metric in run.data.latest_metrics:
                table.metric_column(metric.key)[row] = metric.value
            for key, value in run.data.params.items():
                table.text_column(table.params, key)[row] = value
            for key, value in run.data.tags.items():
                table.text_column(table.tags, key)[row] = value
        return table

    @classmethod
    def concat(cls, pages: Iterable[RunColumns]) -> RunColumns:
        """Pages one after another; a key missing from a page is NaN/None there."""
        pages = list(pages)
        if len(pages) == 1:
            return pages[0]
        table = cls()
        for page in pages:
            offset, n = len(table), len(page)
            table.run_ids += page.run_ids
            table.experiment_ids += page.experiment_ids
            table.statuses += page.statuses
            table.artifact_uris += page.artifact_uris
            table.start_times += page.start_times
            table.end_times += page.end_times
            _append(table.metrics, page.metrics, _NAN, offset, n)
            _append(table.params, page.params, None, offset, n)
            _append(table.tags, page.tags, None, offset, n)
        return table


def _append(
    mine: dict[str, list[T]], theirs: dict[str, list[T]], empty: T, offset: int, n: int
) -> None:
    """Extend each column of `mine` by a page of `n` rows that starts at row `offset`."""
    for key in mine.keys() - theirs.keys():
        mine[key] += [empty] * n
    for key, values in theirs.items():
        mine.setdefault(key, [empty] * offset).extend(values)
