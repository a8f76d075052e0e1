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


def log_linked_metric(
    run_id: str,
    point: tuple[str, float, int, int],
    model_id: str | None,
    dataset: data.Dataset | DatasetEntity | None,
) -> None:
    """A (key, value, timestamp, step) point measured for a logged model or on a dataset
    (MLflow 3's `log_metric(model_id=…, dataset=…)`): the dataset becomes one of the run's
    inputs (a no-op when it is one), then the point is stored in the run and, with
    `model_id`, in the model too, where `search_logged_models` filters on it. Both go
    through the journal, as every run write does: stored now while the store answers,
    kept and sent later while it cannot be reached."""
    from cairn import wire
    from cairn.tracking.client import dataset_input
    from cairn.tracking.fluent import run_write

    name = digest = None
    if dataset is not None:
        used = dataset_input(dataset)
        name, digest = used.dataset.name, used.dataset.digest
        run_write("log_inputs", run_id=run_id, datasets=[wire.dataset_input(used)])
    key, value, timestamp, step = point
    run_write(
        "log_linked_metric",
        run_id=run_id,
        key=key,
        value=value,
        timestamp=timestamp,
        step=step,
        model_id=model_id,
        dataset_name=name,
        dataset_digest=digest,
    )
