"""A Cairn store as an import's target: a database written directly, or a `cairn server`
through its admin import endpoints. Both keep identity the same way (one implementation,
`cairn.store.sql.imports`, runs on the database or behind the server)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cairn.artifact_store.base import ArtifactRepository
from cairn.artifact_store.uri import artifact_repository
from cairn.entities import (
    DatasetInput,
    Experiment,
    LoggedModel,
    LoggedModelOutput,
    ModelVersion,
    RegisteredModel,
    Run,
)
from cairn.store.base import MetricPoint
from cairn.store.uri import scheme_of, tracking_store

HTTP_SCHEMES = ("http", "https")


class CairnTarget:
    """Writes into the Cairn store at `uri` (sqlite/postgresql/mysql, or a server)."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.description = uri
        self.problems: list[str] = []
        self._store: Any = None
        if scheme_of(uri) in HTTP_SCHEMES:
            from cairn.store.rest.imports import RestImports

            self.writes: Any = RestImports(uri)
        else:
            from cairn.store.sql.imports import SqlImports

            self._store = tracking_store(uri)
            self.writes = SqlImports(self._store)

    def put_experiment(self, experiment: Experiment) -> tuple[str, bool]:
        return self.writes.put_experiment(experiment)  # type: ignore[no-any-return]

    def runs_of(self, run_ids: Sequence[str]) -> dict[str, Run]:
        return self.writes.runs_of(run_ids)  # type: ignore[no-any-return]

    def put_run(
        self, run: Run, experiment_id: str, artifact_uri: str | None
    ) -> tuple[str, list[str]]:
        return self.writes.put_run(run, experiment_id, artifact_uri)  # type: ignore[no-any-return]

    def put_metric_points(self, points: Sequence[MetricPoint]) -> None:
        self.writes.put_metric_points(points)

    def put_datasets(
        self, run_id: str, inputs: Sequence[DatasetInput], outputs: Sequence[DatasetInput]
    ) -> None:
        self.writes.put_datasets(run_id, inputs, outputs)

    def put_model_outputs(self, run_id: str, outputs: Sequence[LoggedModelOutput]) -> None:
        self.writes.put_model_outputs(run_id, outputs)

    def finish_run(self, run: Run, deleted_time: int | None) -> None:
        self.writes.finish_run(run, deleted_time)

    def put_logged_model(
        self, model: LoggedModel, experiment_id: str, artifact_uri: str | None
    ) -> tuple[str, bool]:
        return self.writes.put_logged_model(  # type: ignore[no-any-return]
            model, experiment_id, artifact_uri
        )

    def put_registered_model(self, model: RegisteredModel) -> bool:
        return bool(self.writes.put_registered_model(model))

    def put_model_version(self, version: ModelVersion) -> bool:
        return bool(self.writes.put_model_version(version))

    def artifacts(self, root_uri: str) -> ArtifactRepository:
        return artifact_repository(root_uri, self.uri)

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
        else:
            self.writes.close()
