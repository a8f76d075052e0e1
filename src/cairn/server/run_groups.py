"""The runs a grouped chart summarises, split by a param, a tag or the status.

`find_groups` searches the listed experiments (MLflow's filter grammar, active runs, at most
MAX_RUNS of them; optionally only some run ids) and splits the runs by the value of
`group_by`: `params.<key>`, `tags.<key>` or `attributes.status` (MLflow's `param.`/`tag.`
spellings too). Runs without the value form a group of their own, labelled None, last.
Groups are ordered by value, numerically when every value is a number; past MAX_GROUPS the
smallest groups are left out (and counted), since a chart of more bands reads as noise.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from cairn.entities import ViewType
from cairn.entities.run_columns import RunColumns
from cairn.exceptions import InvalidParameterValueError, ResourceDoesNotExistError
from cairn.store import validation as check
from cairn.store.base import ColumnarRunSearch, TrackingStore

MAX_RUNS = 10_000
MAX_GROUPS = 50
_PAGE = 10_000
_PREFIXES = {"params": "params", "param": "params", "tags": "tags", "tag": "tags"}
_STATUS = ("attributes.status", "attribute.status", "attr.status", "run.status", "status")


#: What a run's group label is read from, given the search's columns.
Column = Callable[[RunColumns], list[str | None]]


@dataclass(frozen=True)
class RunGroups:
    """Per group its label (None: runs without the value) and run ids; `runs` were found in
    all, `left_out` groups (the smallest) are not among them."""

    labels: list[str | None]
    run_ids: list[list[str]]
    runs: int
    left_out: int


def find_groups(
    store: TrackingStore,
    experiment_ids: Sequence[str],
    filter_string: str | None,
    run_ids: Sequence[str] | None,
    group_by: str | None,
) -> RunGroups:
    """The runs of `experiment_ids` matching the filter (and among `run_ids` when given),
    grouped; an unknown run id among `run_ids` raises ResourceDoesNotExistError."""
    column = _column_of(group_by)
    query = _filter(filter_string, run_ids)
    found = _search(store, experiment_ids, query)
    if run_ids is not None:
        missing = set(run_ids) - set(found.run_ids)
        if missing:
            raise ResourceDoesNotExistError(
                f"Run '{sorted(missing)[0]}' not found among the active runs of experiments "
                f"{', '.join(experiment_ids)}."
            )
    labels = column(found)
    by_label: dict[str | None, list[str]] = {}
    for run_id, label in zip(found.run_ids, labels, strict=True):
        by_label.setdefault(label, []).append(run_id)
    kept = sorted(by_label, key=lambda g: len(by_label[g]), reverse=True)[:MAX_GROUPS]
    ordered = _ordered(kept)
    return RunGroups(ordered, [by_label[g] for g in ordered], len(found), len(by_label) - len(kept))


def _column_of(group_by: str | None) -> Column:
    """What a run's label is read from."""
    if not group_by:
        return lambda found: [None] * len(found)
    if group_by.strip() in _STATUS:
        return lambda found: list(found.statuses)
    prefix, dot, key = group_by.partition(".")
    kind = _PREFIXES.get(prefix.strip())
    key = key.strip().strip('`"')
    if not dot or kind is None or not key:
        raise InvalidParameterValueError(
            f"Invalid group_by {group_by!r}: expected params.<key>, tags.<key> or "
            "attributes.status."
        )

    def labels(found: RunColumns) -> list[str | None]:
        values = found.params if kind == "params" else found.tags
        return list(values.get(key, [None] * len(found)))

    return labels


def _filter(filter_string: str | None, run_ids: Sequence[str] | None) -> str | None:
    """The caller's filter, and only the given runs (their ids are checked: no quotes)."""
    parts = [filter_string.strip()] if filter_string and filter_string.strip() else []
    if run_ids is not None:
        quoted = ", ".join(f"'{check.run_id(r)}'" for r in run_ids)
        parts.append(f"attributes.run_id IN ({quoted})")
    return " and ".join(parts) or None


def _search(store: TrackingStore, experiment_ids: Sequence[str], query: str | None) -> RunColumns:
    """Every matching active run (MAX_RUNS at most) as columns."""
    pages: list[RunColumns] = []
    token: str | None = None
    count = 0
    while True:
        page, token = _page(store, experiment_ids, query, token)
        pages.append(page)
        count += len(page)
        if count > MAX_RUNS:
            raise InvalidParameterValueError(
                f"More than {MAX_RUNS} runs match; narrow the filter to chart them grouped."
            )
        if token is None:
            return RunColumns.concat(pages)


def _page(
    store: TrackingStore, experiment_ids: Sequence[str], query: str | None, token: str | None
) -> tuple[RunColumns, str | None]:
    if isinstance(store, ColumnarRunSearch):
        return store.search_runs_columns(
            experiment_ids, query, ViewType.ACTIVE_ONLY, _PAGE, None, token
        )
    runs = store.search_runs(experiment_ids, query, ViewType.ACTIVE_ONLY, 1000, None, token)
    return RunColumns.from_runs(runs), runs.token


def _ordered(labels: list[str | None]) -> list[str | None]:
    """By value (numerically when every value is a number), the runs without one last."""
    present = [label for label in labels if label is not None]
    if all(_number(label) is not None for label in present):
        present.sort(key=float)
    else:
        present.sort()
    return present + ([None] if None in labels else [])


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if not math.isnan(value) else None
