"""Datasets a run read, as MLflow models them (name + digest identify one)."""

from __future__ import annotations

from dataclasses import dataclass, field

#: The input tag that says how a run used a dataset ("training", "validation", …).
DATASET_CONTEXT_TAG = "mlflow.data.context"


@dataclass(frozen=True, slots=True)
class Dataset:
    name: str
    digest: str
    source_type: str
    source: str
    schema: str | None = None
    profile: str | None = None


@dataclass(frozen=True, slots=True)
class InputTag:
    key: str
    value: str


@dataclass(frozen=True, slots=True)
class DatasetInput:
    """A dataset as one run used it; the `mlflow.data.context` tag says how (training, …)."""

    dataset: Dataset
    tags: tuple[InputTag, ...] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class RunInputs:
    dataset_inputs: tuple[DatasetInput, ...] = field(default_factory=tuple)
