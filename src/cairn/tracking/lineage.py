"""Dataset lineage: from a dataset's digest to the runs that read it and the models and
registered versions those runs produced (the other direction, from a version back to its
datasets, is `Client.get_model_version_lineage`).

Built from the stores' public searches (`datasets.digest`, `run_id IN`), so it works the
same on a local database and against a server.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from cairn.entities import DATASET_CONTEXT_TAG, Dataset, ModelVersion, Run, ViewType
from cairn.exceptions import InvalidParameterValueError
from cairn.store.base import RegistryStore, TrackingStore

_DIGEST = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
_PAGE = 1000
_IDS_PER_FILTER = 100  # run ids per `run_id IN (...)` clause


@dataclass(frozen=True, slots=True)
class DatasetUse:
    """One run that read the dataset, and how (`training`, `validation`, …)."""

    run_id: str
    experiment_id: str
    run_name: str
    context: str | None
    dataset_name: str


@dataclass(frozen=True, slots=True)
class DatasetLineage:
    digest: str
    datasets: tuple[Dataset, ...]
    runs: tuple[DatasetUse, ...]
    logged_model_ids: tuple[str, ...]
    model_versions: tuple[ModelVersion, ...]


def dataset_lineage(
    tracking: TrackingStore, registry: RegistryStore, digest: str
) -> DatasetLineage:
    """Everything recorded about the dataset with `digest`, across all experiments."""
    if not _DIGEST.match(digest):
        raise InvalidParameterValueError(f"Invalid dataset digest {digest!r}.")
    readers = list(_runs_reading(tracking, digest))
    uses: list[DatasetUse] = []
    datasets: dict[tuple[str, str], Dataset] = {}
    for run in readers:
        for item in run.inputs.dataset_inputs:
            if item.dataset.digest != digest:
                continue
            datasets[(item.dataset.name, item.dataset.source)] = item.dataset
            context = next((t.value for t in item.tags if t.key == DATASET_CONTEXT_TAG), None)
            uses.append(
                DatasetUse(
                    run.info.run_id,
                    run.info.experiment_id,
                    run.info.run_name,
                    context,
                    item.dataset.name,
                )
            )
    model_ids = sorted({o.model_id for run in readers for o in run.outputs.model_outputs})
    versions = _versions_of(registry, [run.info.run_id for run in readers])
    return DatasetLineage(digest, tuple(datasets.values()), tuple(uses), tuple(model_ids), versions)


def _experiment_ids(tracking: TrackingStore) -> list[str]:
    ids: list[str] = []
    token: str | None = None
    while True:
        page = tracking.search_experiments(ViewType.ALL, _PAGE, page_token=token)
        ids.extend(e.experiment_id for e in page)
        token = page.token
        if not token:
            return ids


def _runs_reading(tracking: TrackingStore, digest: str) -> Iterator[Run]:
    experiment_ids = _experiment_ids(tracking)
    token = None
    while experiment_ids:
        page = tracking.search_runs(
            experiment_ids,
            f"datasets.digest = '{digest}'",
            ViewType.ALL,
            _PAGE,
            page_token=token,
        )
        yield from page
        token = page.token
        if not token:
            return


def _versions_of(registry: RegistryStore, run_ids: Sequence[str]) -> tuple[ModelVersion, ...]:
    """Registered versions trained by these runs (a version registered from a logged model
    carries the model's run, see SqlRegistryStore.create_model_version)."""
    found: list[ModelVersion] = []
    unique = sorted(set(run_ids))
    for start in range(0, len(unique), _IDS_PER_FILTER):
        chunk = ", ".join(f"'{r}'" for r in unique[start : start + _IDS_PER_FILTER])
        token = None
        while True:
            page = registry.search_model_versions(f"run_id IN ({chunk})", page_token=token)
            found.extend(page)
            token = page.token
            if not token:
                break
    return tuple(sorted(found, key=lambda v: (v.name, int(v.version))))
