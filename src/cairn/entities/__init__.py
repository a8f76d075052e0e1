"""Plain values: no I/O, no database, no network.

The registry's values load on first use (`cairn.entities.ModelVersion` works as usual):
defining a dataclass costs about a millisecond, and `import cairn` needs none of them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

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
from cairn.entities.run import Run, RunData, RunInfo

if TYPE_CHECKING:
    from cairn.entities.registry import (
        ModelVersion,
        ModelVersionEvent,
        ModelVersionEventKind,
        ModelVersionLineage,
        ModelVersionStage,
        ModelVersionStatus,
        RegisteredModel,
    )

_REGISTRY_NAMES = frozenset(
    {
        "ModelVersion",
        "ModelVersionEvent",
        "ModelVersionEventKind",
        "ModelVersionLineage",
        "ModelVersionStage",
        "ModelVersionStatus",
        "RegisteredModel",
    }
)


def __getattr__(name: str) -> Any:
    if name in _REGISTRY_NAMES:
        return getattr(importlib.import_module("cairn.entities.registry"), name)
    raise AttributeError(f"module 'cairn.entities' has no attribute {name!r}")


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
