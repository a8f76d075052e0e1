"""`log_predictions`: what a run predicted, as a table artifact recorded as one of the run's
dataset outputs, linked to the model version that made the predictions when one is named.

The table is `predictions/<name>.parquet` (JSON records when pyarrow is missing): the input
columns, then `prediction` (or `prediction_<i>`, or the predictions' own column names), then
`target` when targets are given. Its digest is the file's content hash, so the same
predictions logged twice are stored once, and its profile holds the row count.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from cairn.entities import DATASET_CONTEXT_TAG, Dataset, DatasetInput, InputTag
from cairn.exceptions import InvalidParameterValueError

if TYPE_CHECKING:
    import pandas

    from cairn.tracking.client import Client

PREDICTIONS_CONTEXT = "predictions"
MODEL_NAME_TAG = "cairn.model.name"
MODEL_VERSION_TAG = "cairn.model.version"
MODEL_ID_TAG = "cairn.model.id"
FOLDER = "predictions"


def predictions_table(inputs: Any, predictions: Any, targets: Any = None) -> pandas.DataFrame:
    """One frame: the inputs' columns, the predictions, the targets; rows must agree."""
    import pandas as pd

    frame = _frame(inputs, "input").reset_index(drop=True)
    parts = [frame, _frame(predictions, "prediction").reset_index(drop=True)]
    if targets is not None:
        parts.append(_frame(targets, "target").reset_index(drop=True))
    lengths = {len(p) for p in parts}
    if len(lengths) != 1:
        raise InvalidParameterValueError(
            f"Inputs, predictions and targets must have as many rows; got {sorted(lengths)}."
        )
    table = pd.concat(parts, axis=1)
    if table.columns.duplicated().any():
        taken = sorted({str(c) for c in table.columns[table.columns.duplicated()]})
        raise InvalidParameterValueError(f"Column names occur twice in the table: {taken}.")
    table.columns = [str(c) for c in table.columns]
    return table


def _frame(values: Any, role: str) -> pandas.DataFrame:
    import numpy as np
    import pandas as pd

    if isinstance(values, pd.DataFrame):
        return values
    if isinstance(values, pd.Series):
        return values.to_frame(name=role if values.name is None else str(values.name))
    if isinstance(values, Mapping):
        return pd.DataFrame(dict(values))
    array = np.asarray(values)
    if array.ndim == 1:
        return pd.DataFrame({role: array})
    if array.ndim == 2:
        return pd.DataFrame(array, columns=[f"{role}_{i}" for i in range(array.shape[1])])
    raise InvalidParameterValueError(f"The {role}s must be 1- or 2-dimensional.")


def write_table(table: pandas.DataFrame, folder: str, name: str) -> str:
    """Parquet when pyarrow is installed, else JSON records; returns the file's path."""
    import importlib.util

    if importlib.util.find_spec("pyarrow") is not None:
        path = os.path.join(folder, f"{name}.parquet")
        table.to_parquet(path, index=False)
    else:
        path = os.path.join(folder, f"{name}.json")
        table.to_json(path, orient="records")
    return path


def record_predictions(
    client: Client,
    run_id: str,
    inputs: Any,
    predictions: Any,
    targets: Any = None,
    name: str = "predictions",
    model_uri: str | None = None,
) -> Dataset:
    """Store the table, record it as the run's dataset output; returns what was recorded."""
    from cairn import data
    from cairn.artifact_paths import safe_relative

    if not name or safe_relative(name) != name or "/" in name:
        raise InvalidParameterValueError(f"Invalid predictions name {name!r}.")
    model_tags = _model_tags(client, model_uri)
    table = predictions_table(inputs, predictions, targets)
    with tempfile.TemporaryDirectory(prefix="cairn-predictions-") as folder:
        path = write_table(table, folder, name)
        described = data.from_path(path, name=name).to_entity()
        client.log_artifact(run_id, path, FOLDER)
    file_name = os.path.basename(path)
    source = json.dumps({"uri": f"runs:/{run_id}/{FOLDER}/{file_name}"})
    recorded = dataclasses.replace(described, source_type="run_artifact", source=source)
    tags = (InputTag(DATASET_CONTEXT_TAG, PREDICTIONS_CONTEXT), *model_tags)
    client.store.log_dataset_outputs(run_id, [DatasetInput(recorded, tags)])
    return recorded


def _model_tags(client: Client, model_uri: str | None) -> tuple[InputTag, ...]:
    """The tags naming the model behind the predictions: a registered version
    (`models:/name/3`, `@alias`, a stage) or a logged model (`models:/m-…`)."""
    if model_uri is None:
        return ()
    from cairn.store.ids import logged_model_id_in
    from cairn.tracking.model_uris import resolve_model_version

    if not model_uri.startswith("models:/"):
        raise InvalidParameterValueError(
            f"model_uri must be a models:/ URI (a registered version or a logged model), "
            f"not {model_uri!r}."
        )
    model_id = logged_model_id_in(model_uri)
    if model_id is not None:
        return (InputTag(MODEL_ID_TAG, client.get_logged_model(model_id).model_id),)
    version = resolve_model_version(model_uri, client)
    tags = [InputTag(MODEL_NAME_TAG, version.name), InputTag(MODEL_VERSION_TAG, version.version)]
    if version.model_id:
        tags.append(InputTag(MODEL_ID_TAG, version.model_id))
    return tuple(tags)


class PredictionLogging:
    """Mixed into `cairn.Client`."""

    def log_predictions(
        self,
        run_id: str,
        inputs: Any,
        predictions: Any,
        targets: Any = None,
        name: str = "predictions",
        model_uri: str | None = None,
    ) -> Dataset:
        """Store what a model predicted for `inputs` (and the `targets`, when known) as a
        table of the run, recorded as its dataset output; `model_uri` (`models:/name/3`,
        `models:/name@champion`, `models:/m-…`) links the table to the model that made it.

        Example:
            >>> client.log_predictions(run_id, X_test, model.predict(X_test), y_test,
            ...                        name="test", model_uri="models:/churn/3")
        """
        client: Client = self  # type: ignore[assignment]
        return record_predictions(client, run_id, inputs, predictions, targets, name, model_uri)


def log_predictions(
    inputs: Any,
    predictions: Any,
    targets: Any = None,
    name: str = "predictions",
    model_uri: str | None = None,
) -> Dataset:
    """`Client.log_predictions` on the active run (one is started if none is active).

    Example:
        >>> with cairn.start_run():
        ...     cairn.log_predictions(X_test, model.predict(X_test), y_test, name="test")
    """
    from cairn.tracking.fluent import current_client, run_id_for_logging

    client = current_client()
    return record_predictions(
        client, run_id_for_logging(), inputs, predictions, targets, name, model_uri
    )
