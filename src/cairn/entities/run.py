"""Run, RunInfo and RunData."""

from __future__ import annotations

from dataclasses import dataclass, field

from cairn.entities.dataset import RunInputs
from cairn.entities.logged_model import RunOutputs
from cairn.entities.metric import Metric


@dataclass(frozen=True, slots=True)
class RunInfo:
    run_id: str
    experiment_id: str
    run_name: str
    user_id: str
    status: str
    start_time: int
    end_time: int | None
    artifact_uri: str
    lifecycle_stage: str

    @property
    def run_uuid(self) -> str:
        """MLflow's legacy name for `run_id`."""
        return self.run_id


@dataclass(frozen=True, slots=True)
class RunData:
    """What a run logged: the latest value of each metric, its params and its tags.

    `latest_metrics` keeps the step and timestamp of each latest value; `metrics` is the
    `{key: value}` view MLflow users know.
    """

    latest_metrics: tuple[Metric, ...] = ()
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def metrics(self) -> dict[str, float]:
        return {m.key: m.value for m in self.latest_metrics}


@dataclass(frozen=True, slots=True)
class Run:
    info: RunInfo
    data: RunData = field(default_factory=RunData)
    inputs: RunInputs = field(default_factory=RunInputs)
    outputs: RunOutputs = field(default_factory=RunOutputs)
