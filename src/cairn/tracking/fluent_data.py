"""`cairn.log_input`: the Client's `log_input`, applied to the active run."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from cairn.tracking.fluent import run_id_for_logging

if TYPE_CHECKING:
    from cairn import data
    from cairn.entities import Dataset as DatasetEntity


def log_input(
    dataset: data.Dataset | DatasetEntity,
    context: str | None = None,
    tags: Mapping[str, Any] | None = None,
) -> None:
    """Record that the active run used `dataset` (starting a run if none is active, as
    MLflow does). `context` ("training", "eval", …) becomes the `mlflow.data.context` input
    tag; the dataset itself is stored once per experiment, by name and digest.

    Example:
        >>> dataset = cairn.data.from_path("data/train.parquet", targets="label")
        >>> with cairn.start_run():
        ...     cairn.log_input(dataset, context="training")
    """
    from cairn import wire
    from cairn.tracking.client import dataset_input
    from cairn.tracking.fluent import run_write

    encoded = wire.dataset_input(dataset_input(dataset, context, tags))
    run_write("log_inputs", run_id=run_id_for_logging(), datasets=[encoded])
