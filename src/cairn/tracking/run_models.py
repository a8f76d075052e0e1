"""`runs:/<run_id>/<name>/…` paths that name a logged model rather than the run's files.

MLflow 3 keeps a logged model's files under the LoggedModel, not under the run that logged
it, yet `runs:/<run_id>/model` still reaches them: where the run holds nothing at a path,
the path's first segment is the name of a model logged from that run, and the rest is a path
inside that model (mlflow/store/artifact/runs_artifact_repo.py). The run's own artifacts win
when they are there (MLflow 2's models, `log_artifacts(..., "model")`).
"""

from __future__ import annotations

from dataclasses import dataclass

from cairn.artifact_paths import safe_relative
from cairn.entities import LoggedModel
from cairn.store.base import TrackingStore


@dataclass(frozen=True, slots=True)
class ModelPath:
    """A run-relative path resolved into a logged model: the model, its name (the path's
    first segment) and the rest of the path inside the model ("" for its root)."""

    model: LoggedModel
    name: str
    inner: str


def model_path(store: TrackingStore, run_id: str, path: str | None) -> ModelPath | None:
    """The logged model named by `path`'s first segment among the models logged from the
    run (the newest, should several share the name), or None."""
    relative = safe_relative(path or "")
    if not relative:
        return None  # the run's root is the run's, never a model's
    name, _, inner = relative.partition("/")
    run = store.get_run(run_id).info
    newest: LoggedModel | None = None
    token: str | None = None
    while True:
        page = store.search_logged_models(
            [run.experiment_id],
            filter_string=f"source_run_id = '{run.run_id}'",
            page_token=token,
        )
        for model in page:
            if model.name == name and (
                newest is None or model.creation_timestamp > newest.creation_timestamp
            ):
                newest = model
        token = page.token
        if not token:
            break
    return None if newest is None else ModelPath(newest, name, inner)
