"""What a store to import into offers: writes that keep identity and ignore repeats."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from cairn.artifact_store.base import ArtifactRepository
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


class Target(Protocol):
    """A store written by an import. Each `put_*` is idempotent: what is there already,
    identical, is left alone; it returns whether it wrote anything."""

    description: str
    #: What could not be written, one line each (known at the latest once closed).
    problems: list[str]

    def put_experiment(self, experiment: Experiment) -> tuple[str, bool]:
        """The target's experiment for `experiment`: the one of the same name, else a new
        one with the source's id where that id is free (a new id otherwise), its
        artifact location (None: the target's default), lifecycle, times and tags.
        Returns (target id, created)."""
        ...

    def runs_of(self, run_ids: Sequence[str]) -> dict[str, Run]:
        """The target's copies of these runs (those it has), for comparing."""
        ...

    def put_run(
        self, run: Run, experiment_id: str, artifact_uri: str | None
    ) -> tuple[str, list[str]]:
        """Create the run (its id, name, user, start time; status RUNNING until
        `finish_run`) unless present, and add its params and tags. `artifact_uri` None:
        the target's default location for it. Returns the run's artifact URI and the keys of
        params the target holds with other values (kept: they are reported)."""
        ...

    def put_metric_points(self, points: Sequence[MetricPoint]) -> None:
        """Points of runs put before, in any lifecycle stage; exact repeats stored once."""
        ...

    def put_datasets(
        self, run_id: str, inputs: Sequence[DatasetInput], outputs: Sequence[DatasetInput]
    ) -> None: ...

    def put_model_outputs(self, run_id: str, outputs: Sequence[LoggedModelOutput]) -> None: ...

    def finish_run(self, run: Run, deleted_time: int | None) -> None:
        """Last: the run's status, end time and lifecycle stage (a reader never sees a run
        ended whose data is still coming; an interrupted import shows as unfinished)."""
        ...

    def put_logged_model(
        self, model: LoggedModel, experiment_id: str, artifact_uri: str | None
    ) -> tuple[str, bool]:
        """The model with its id, params, tags and metrics. Returns (artifact URI, created)."""
        ...

    def put_registered_model(self, model: RegisteredModel) -> bool:
        """The model with its name, times, description and tags (aliases come with
        `put_model_version`)."""
        ...

    def put_model_version(self, version: ModelVersion) -> bool:
        """The version with its number, stage, times, source, tags and aliases; the
        model's next number stays above every version put."""
        ...

    def artifacts(self, root_uri: str) -> ArtifactRepository:
        """A repository writing under an artifact root the target gave out."""
        ...

    def close(self) -> None: ...
