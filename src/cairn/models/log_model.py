"""`log_model`, once for every flavor: a model becomes an MLflow-3 LoggedModel of a run.

The steps are MLflow 3's: take the active run (starting one, as `log_metric` would), create
a PENDING LoggedModel linked to it, record it as the run's output, save the model to a
scratch directory with `run_id`, `model_id` and `artifact_path` in its MLmodel, upload that
directory to the model's artifact URI, and mark the model READY, or UPLOAD_FAILED if saving
or uploading raised (the error is then re-raised). The model's URI is `models:/<model_id>`;
`runs:/<run_id>/<name>` finds it too (see `uri.py`). With `registered_model_name`, the
model then becomes the next version of that registered model (created if new).
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from collections.abc import Callable
from typing import Any

from cairn.entities import LoggedModelOutput, LoggedModelStatus
from cairn.exceptions import InvalidParameterValueError
from cairn.models.model import Model, ModelInfo

SaveFunction = Callable[[str, Model], None]


def log_saved(
    flavor: str,
    name: str,
    save_model: Callable[..., Any],
    model: Any,
    registered_model_name: str | None = None,
    **arguments: Any,
) -> ModelInfo:
    """`log_model` for a flavor whose `save_model(model, path, **arguments, mlflow_model=…)`
    writes the model: each flavor's `log_model` is this, with its own arguments."""

    def save(path: str, mlflow_model: Model) -> None:
        save_model(model, path, mlflow_model=mlflow_model, **arguments)

    return log_model(flavor, name, save, registered_model_name)


def log_model(
    flavor: str,
    name: str,
    save: SaveFunction,
    registered_model_name: str | None = None,
) -> ModelInfo:
    """Log what `save(path, mlmodel)` writes as a new LoggedModel named `name`.

    `save` is the flavor's `save_model` with its arguments bound; it must fill the given
    `Model` (which carries the run and model ids) rather than start a new one.
    """
    if not name or "/" in name:
        raise InvalidParameterValueError(f"Invalid model name {name!r}: give a non-empty name.")
    from cairn.tracking import fluent, session

    run_id = fluent.run_id_for_logging()

    saved: list[Model] = []

    def save_for_later(folder: str) -> str:
        """While the store cannot be reached: saved into the journal, logged when it is back
        (cairn.tracking.journal); `runs:/<run_id>/<name>` finds it from then on."""
        os.rmdir(folder)  # the flavor's save_model makes the model's folder
        saved.append(Model(run_id=run_id))
        save(folder, saved[0])
        return name

    applied, info = (
        session.current()
        .journal()
        .artifacts(
            run_id,
            lambda: _log_now(flavor, name, save, registered_model_name, run_id),
            save_for_later,
            "log_model",
            flavor=flavor,
            registered_model_name=registered_model_name,
        )
    )
    if applied:
        logged_now: ModelInfo = info
        return logged_now
    return ModelInfo.of(saved[0], f"runs:/{run_id}/{name}")


def _log_now(
    flavor: str, name: str, save: SaveFunction, registered_model_name: str | None, run_id: str
) -> ModelInfo:
    from cairn.tracking import fluent

    client = fluent.current_client()
    active = fluent.active_run()  # its experiment is known: no read of the whole run
    if active is not None and active.info.run_id == run_id:
        experiment_id = active.info.experiment_id
    else:
        experiment_id = client.get_run(run_id).info.experiment_id
    logged = client.create_logged_model(
        experiment_id, name=name, source_run_id=run_id, model_type=flavor
    )
    client.log_outputs(run_id, [LoggedModelOutput(logged.model_id, 0)])
    mlmodel = Model(run_id=run_id, model_id=logged.model_id, artifact_path=logged.artifact_uri)
    try:
        with tempfile.TemporaryDirectory(prefix="cairn-model-") as scratch:
            save(f"{scratch}/model", mlmodel)
            client.log_model_artifacts(logged.model_id, f"{scratch}/model")
    except BaseException:
        client.finalize_logged_model(logged.model_id, LoggedModelStatus.UPLOAD_FAILED)
        raise
    client.finalize_logged_model(logged.model_id, LoggedModelStatus.READY)
    info = ModelInfo.of(mlmodel, logged.model_uri)
    if registered_model_name is None:
        return info
    version = client.register_model(logged.model_uri, registered_model_name)
    return dataclasses.replace(info, registered_model_version=version.version)
