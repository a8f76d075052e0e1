"""What a model was trained on, as autologging records it: the dataset (a run input), and
the input example and signature logged with the model."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from cairn.autologging.settings import AutologSettings

if TYPE_CHECKING:
    from cairn.data import Dataset

log = logging.getLogger("cairn.autolog")

EXAMPLE_ROWS = 5


def dataset(features: Any, targets: Any = None, name: str | None = None) -> Dataset | None:
    """A dataset of the training data: a DataFrame (with the targets as a column) or arrays;
    None for data Cairn cannot describe (a generator, a sparse matrix, a library's own
    container), which is then not logged."""
    from cairn import data

    try:
        import pandas as pd

        if isinstance(features, pd.DataFrame):
            if targets is None:
                return data.from_pandas(features, name=name)
            column = getattr(targets, "name", None) or "label"
            if column in features.columns:
                column = f"{column}_target"
            frame = features.assign(**{str(column): _column(targets)})
            return data.from_pandas(frame, targets=str(column), name=name)
        import numpy as np

        if isinstance(features, (np.ndarray, list, tuple)):
            features = np.asarray(features)
            if features.dtype == object:
                return None
            labels = None if targets is None else np.asarray(targets)
            return data.from_numpy(features, targets=labels, name=name)
    except (TypeError, ValueError) as error:
        log.debug("Training data not described: %s", error)
    return None


def _column(targets: Any) -> Any:
    import numpy as np

    values = getattr(targets, "to_numpy", None)
    return values() if callable(values) else np.asarray(targets)


def log_dataset(
    settings: AutologSettings, features: Any, targets: Any = None, context: str = "train"
) -> None:
    """Log the training data as an input of the active run, when `log_datasets` is on."""
    if not settings.log_datasets:
        return
    found = dataset(features, targets)
    if found is not None:
        from cairn.tracking.fluent_data import log_input

        log_input(found, context=context)


def example(features: Any) -> Any:
    """The first rows of the training data, as the model's input example."""
    head = getattr(features, "iloc", None)
    if head is not None:
        return features.iloc[:EXAMPLE_ROWS]
    try:
        return features[:EXAMPLE_ROWS]
    except (TypeError, KeyError, IndexError):
        return None


def model_arguments(settings: AutologSettings, features: Any, predict: Any) -> dict[str, Any]:
    """`input_example` and `signature` for a flavor's `log_model`, as the switches ask: the
    signature from the example and the model's prediction on it."""
    arguments: dict[str, Any] = {}
    sample = example(features) if features is not None else None
    if sample is None:
        return arguments
    if settings.log_input_examples:
        arguments["input_example"] = sample
    if settings.log_model_signatures and callable(predict):
        from cairn.models.signature import infer_signature

        try:
            arguments["signature"] = infer_signature(sample, predict(sample))
        except Exception as error:  # a model that cannot predict its own input: no signature
            log.debug("No signature inferred: %s", error)
    return arguments
