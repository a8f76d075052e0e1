"""Active runs per experiment and their last activity: one GROUP BY over the runs table."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select

from cairn.store import validation as check
from cairn.store.base import RunCount, RunCounts
from cairn.store.sql.schema import runs
from cairn.store.sql.transactions import SqlTransactions

_r = runs.c
# Chunks keep the IN list under every driver's limit on bound parameters.
_CHUNK = 500


class SqlRunCounts(SqlTransactions, RunCounts):
    """Inherited by SqlTrackingStore."""

    def count_runs(self, experiment_ids: Sequence[str] | None = None) -> dict[str, RunCount]:
        query = (
            select(
                _r.experiment_id,
                func.count(),
                func.max(_r.start_time),
                func.max(func.coalesce(_r.end_time, _r.start_time)),
            )
            .where(_r.lifecycle_stage == "active")
            .group_by(_r.experiment_id)
        )
        counts: dict[str, RunCount] = {}
        with self._read() as conn:
            if experiment_ids is None:
                rows = list(conn.execute(query))
            else:
                ids = [int(check.experiment_id(e)) for e in dict.fromkeys(experiment_ids)]
                counts = {str(i): RunCount(0, None) for i in ids}
                rows = []
                for start in range(0, len(ids), _CHUNK):
                    chunk = ids[start : start + _CHUNK]
                    rows += conn.execute(query.where(_r.experiment_id.in_(chunk)))
        for experiment_id, count, started, ended in rows:
            times = [int(t) for t in (started, ended) if t is not None]
            counts[str(experiment_id)] = RunCount(int(count), max(times) if times else None)
        return counts
