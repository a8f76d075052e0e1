"""What a store to import from offers: its entities, in Cairn's types, streamed."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from cairn.artifact_store.base import ArtifactRepository
from cairn.entities import Experiment, LoggedModel, ModelVersion, RegisteredModel, Run
from cairn.store.base import MetricPoint

#: Points per chunk of a streamed metric history: a history never sits in memory whole.
CHUNK_POINTS = 50_000


@dataclass
class SourceRun:
    """A run as a source holds it: the run (info, params, tags, latest metrics, inputs,
    outputs), when it was deleted, and every metric key with a history (latest metrics
    may be fewer: a history of NaNs only has no latest value in some stores)."""

    run: Run
    deleted_time: int | None = None
    metric_keys: tuple[str, ...] = ()
    #: Points in all its histories, where the source knows without reading them.
    point_count: int | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def run_id(self) -> str:
        return self.run.info.run_id


class Source(Protocol):
    """A store read for import. Every iterator covers all lifecycle stages (deleted
    experiments and runs come along, deleted)."""

    description: str
    #: What could not be read, one line each (entities left out, listings cut short).
    problems: list[str]

    def experiments(self) -> Iterator[Experiment]: ...

    def run_count(self) -> int | None:
        """How many runs `runs` will yield in all, where that is cheap to know (for a
        progress bar); None otherwise."""
        ...

    def runs(self, experiment_id: str) -> Iterator[SourceRun]: ...

    def metric_history(self, run_id: str, key: str) -> Iterator[Sequence[MetricPoint]]:
        """The history of one metric in chunks of at most CHUNK_POINTS, every point
        (NaN and ±inf included) as the stores take it: (run_id, key, value, timestamp,
        step). Tuples, not Metrics: an import moves millions of them."""
        ...

    def logged_models(self, experiment_id: str) -> Iterator[LoggedModel]: ...

    def registered_models(self) -> Iterator[RegisteredModel]:
        """With tags and aliases."""
        ...

    def model_versions(self, name: str) -> Iterator[ModelVersion]:
        """Every version of a registered model, with tags and aliases."""
        ...

    def artifacts(self, root_uri: str) -> ArtifactRepository | None:
        """A repository reading the files under a run's (or a logged model's) artifact
        root, or None where this source cannot reach them (a problem in the report)."""
        ...

    def close(self) -> None: ...
