"""LoggedModel: a model logged from a run (MLflow 3's first-class model), and run outputs."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from cairn.entities.dataset import DatasetInput
from cairn.entities.metric import Metric

#: The file that makes a directory a model, in MLflow's format (`cairn.models.model` reads it).
MLMODEL_FILE_NAME = "MLmodel"


class LoggedModelStatus(str, enum.Enum):
    """A model is PENDING while its files upload; the client then marks it READY or failed."""

    PENDING = "LOGGED_MODEL_PENDING"
    READY = "LOGGED_MODEL_READY"
    UPLOAD_FAILED = "LOGGED_MODEL_UPLOAD_FAILED"

    @classmethod
    def parse(cls, value: str) -> LoggedModelStatus:
        """Accept MLflow's wire names and the short ones (`READY`)."""
        if isinstance(value, cls):
            return value
        text = str(value).upper()
        for status in cls:
            if text in (status.value, status.name):
                return status
        raise ValueError(value)


@dataclass(frozen=True, slots=True)
class LoggedModelMetric:
    """A metric point linked to a model, with the run and dataset it was measured on."""

    key: str
    value: float
    timestamp: int
    step: int = 0
    run_id: str | None = None
    dataset_name: str | None = None
    dataset_digest: str | None = None

    def as_metric(self) -> Metric:
        return Metric(self.key, self.value, self.timestamp, self.step)


@dataclass(frozen=True, slots=True)
class LoggedModel:
    """Ids are `m-<32 hex>`; `artifact_uri` is where the model directory (MLmodel) lives."""

    model_id: str
    experiment_id: str
    name: str
    artifact_uri: str
    creation_timestamp: int
    last_updated_timestamp: int
    status: LoggedModelStatus = LoggedModelStatus.PENDING
    creator_id: str | None = None
    model_type: str | None = None
    source_run_id: str | None = None
    status_message: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    metrics: tuple[LoggedModelMetric, ...] = ()

    @property
    def model_uri(self) -> str:
        return f"models:/{self.model_id}"


@dataclass(frozen=True, slots=True)
class LoggedModelOutput:
    """A run produced this model, at this step."""

    model_id: str
    step: int = 0


@dataclass(frozen=True, slots=True)
class RunOutputs:
    """What a run produced: models, and datasets such as its predictions (Cairn's addition;
    their `mlflow.data.context` tag says which)."""

    model_outputs: tuple[LoggedModelOutput, ...] = field(default_factory=tuple)
    dataset_outputs: tuple[DatasetInput, ...] = field(default_factory=tuple)
