"""`cairn.log_input`: the Client's `log_input`, applied to the active run."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from cairn.tracking.fluent import run_id_for_logging

if TYPE_CHECKING:
    from cairn import data
    from cairn.entities import Dataset as DatasetEntity
    from cairn.tracking.client import Client


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


def log_linked_metric(
    client: Client,
    run_id: str,
    point: tuple[str, float, int, int],
    model_id: str | None,
    dataset: data.Dataset | DatasetEntity | None,
) -> None:
    """A (key, value, timestamp, step) point measured for a logged model or on a dataset,
    stored now (MLflow 3's `log_metric(model_id=…, dataset=…)`): the dataset becomes one of
    the run's inputs if it is not one yet, then the point is stored in the run and, with
    `model_id`, in the model too, where `search_logged_models` filters on it."""
    from cairn.tracking.client import dataset_input

    name = digest = None
    if dataset is not None:
        used = dataset_input(dataset)
        name, digest = used.dataset.name, used.dataset.digest
        inputs = client.get_run(run_id).inputs.dataset_inputs
        if not any(i.dataset.name == name and i.dataset.digest == digest for i in inputs):
            client.log_inputs(run_id, [used])
    key, value, timestamp, step = point
    client.log_metric(
        run_id,
        key,
        value,
        timestamp,
        step,
        dataset_name=name,
        dataset_digest=digest,
        model_id=model_id,
    )
