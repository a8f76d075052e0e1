"""Plain values: no I/O, no database, no network."""

from cairn.entities.dataset import (
    DATASET_CONTEXT_TAG,
    Dataset,
    DatasetInput,
    InputTag,
    RunInputs,
)
from cairn.entities.experiment import Experiment
from cairn.entities.file_info import FileInfo
from cairn.entities.lifecycle import LifecycleStage, RunStatus, ViewType
from cairn.entities.logged_model import (
    LoggedModel,
    LoggedModelMetric,
    LoggedModelOutput,
    LoggedModelStatus,
    RunOutputs,
)
from cairn.entities.metric import ExperimentTag, Metric, Param, RunTag
from cairn.entities.paged_list import PagedList
from cairn.entities.registry import (
    ModelVersion,
    ModelVersionEvent,
    ModelVersionEventKind,
    ModelVersionLineage,
    ModelVersionStage,
    ModelVersionStatus,
    RegisteredModel,
)
from cairn.entities.run import Run, RunData, RunInfo

__all__ = [
    "DATASET_CONTEXT_TAG",
    "Dataset",
    "DatasetInput",
    "Experiment",
    "ExperimentTag",
    "FileInfo",
    "InputTag",
    "LifecycleStage",
    "LoggedModel",
    "LoggedModelMetric",
    "LoggedModelOutput",
    "LoggedModelStatus",
    "Metric",
    "ModelVersion",
    "ModelVersionEvent",
    "ModelVersionEventKind",
    "ModelVersionLineage",
    "ModelVersionStage",
    "ModelVersionStatus",
    "PagedList",
    "Param",
    "RegisteredModel",
    "Run",
    "RunData",
    "RunInfo",
    "RunInputs",
    "RunOutputs",
    "RunStatus",
    "RunTag",
    "ViewType",
]
