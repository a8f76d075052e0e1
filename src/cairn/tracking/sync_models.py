"""The logged models of a run, for `cairn sync`: each copied once, with its files, tags,
params, metrics and status, and linked to the destination's run.

A store makes a model's id itself (no store takes one from the client), so the copy has a
new id: the sync state maps the source's id to it. A copy is found again by (experiment,
name, source run) if a sync stopped between creating it and saving the state.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from cairn.artifact_store.uri import artifact_repository
from cairn.entities import LoggedModel, LoggedModelOutput, LoggedModelStatus, Run
from cairn.tracking import sync_artifacts
from cairn.tracking.sync_state import RunProgress
from cairn.tracking.sync_summary import SyncSummary

if TYPE_CHECKING:
    from cairn.tracking.sync import Sync


def send_models(sync: Sync, run: Run, progress: RunProgress, sent: SyncSummary) -> int:
    """Copy the run's finished models not copied yet; returns how many were. A model still
    PENDING (its files are uploading) waits for a later sync."""
    copied = 0
    for output in run.outputs.model_outputs:
        if output.model_id in progress.models:
            continue
        model = sync.source.get_logged_model(output.model_id)
        if model.status == LoggedModelStatus.PENDING:
            continue
        experiment_id = sync.destination_experiment(run.info.experiment_id, sent)
        copy = _find_copy(sync, experiment_id, model, progress) or _create_copy(
            sync, experiment_id, model, progress, sent
        )
        _copy_files(sync, model, copy, sent)
        if model.metrics:
            run_ids = {run.info.run_id: progress.destination_run_id}
            metrics = [
                dataclasses.replace(m, run_id=run_ids.get(m.run_id or "", m.run_id))
                for m in model.metrics
            ]
            sync.destination.store.log_model_metrics(copy.model_id, metrics)
            sent.requests += 1
        sync.destination.finalize_logged_model(copy.model_id, model.status)
        sync.destination.log_outputs(
            progress.destination_run_id, [LoggedModelOutput(copy.model_id, output.step)]
        )
        sent.requests += 2
        progress.models[output.model_id] = copy.model_id
        copied += 1
    return copied


def _find_copy(
    sync: Sync, experiment_id: str, model: LoggedModel, progress: RunProgress
) -> LoggedModel | None:
    name = model.name.replace("'", "''")
    found = sync.destination.search_logged_models(
        [experiment_id],
        f"name = '{name}' AND source_run_id = '{progress.destination_run_id}'",
        max_results=1,
    )
    return found[0] if found else None


def _create_copy(
    sync: Sync, experiment_id: str, model: LoggedModel, progress: RunProgress, sent: SyncSummary
) -> LoggedModel:
    sent.requests += 1
    return sync.destination.create_logged_model(
        experiment_id,
        name=model.name,
        source_run_id=progress.destination_run_id,
        tags=model.tags,
        params=model.params,
        model_type=model.model_type,
    )


def _copy_files(sync: Sync, model: LoggedModel, copy: LoggedModel, sent: SyncSummary) -> None:
    source = sync.source_repository(model.artifact_uri)
    target = artifact_repository(copy.artifact_uri, sync.destination_uri)
    for path, size in sync_artifacts.walk_files(source):
        sync_artifacts.copy_file(source, target, path)
        sent.artifact_files += 1
        sent.artifact_bytes += size
        sent.requests += 1
