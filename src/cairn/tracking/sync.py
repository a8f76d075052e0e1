"""`cairn sync`: copy runs from one tracking store to another (a local store to a server,
usually), keeping their ids, idempotently and incrementally.

Both sides are `Client`s, so any pair of tracking URIs works. Experiments are matched by
name (the Default experiment by id "0"); runs keep their ids, names, users, times, status,
params, tags, full metric histories, datasets, artifacts and logged models. What was sent is
kept in a state file (`sync_state`); a second sync sends nothing, and a run still RUNNING
gets only what is new each time. Every request is idempotent on the destination, so an
interrupted sync, or a lost state file, only costs re-sending.

Example:
    >>> summary = Sync("http://tracking:5000").sync_once()
    >>> print(summary.describe())
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence

from cairn.artifact_store.base import ArtifactRepository
from cairn.artifact_store.uri import artifact_repository
from cairn.entities import (
    Experiment,
    LifecycleStage,
    Metric,
    Param,
    Run,
    RunStatus,
    RunTag,
    ViewType,
)
from cairn.exceptions import CairnError, InvalidParameterValueError, ResourceDoesNotExistError
from cairn.provenance.user import USER_TAG
from cairn.store.retries import failing_fast
from cairn.store.uri import StoreCache, default_tracking_uri, require_existing
from cairn.tracking import sync_artifacts, sync_models
from cairn.tracking.client import Client
from cairn.tracking.sync_diff import batches, dataset_identity, fingerprint, is_terminal, new_points
from cairn.tracking.sync_state import MetricProgress, RunProgress, SyncState, default_state_path
from cairn.tracking.sync_summary import SyncSummary

DEFAULT_EXPERIMENT_ID = "0"
ALL_RUNS = 10**9
SAVE_EVERY_SECONDS = 1.0


class Sync:
    """Copies the selected runs of `source` (default: the local store) to `destination`.

    `experiments` (names) and `run_ids` narrow the selection; `proxied_artifacts` is the
    artifact folder behind a source store's `mlflow-artifacts:` roots (the relay's)."""

    def __init__(
        self,
        destination: str,
        source: str | None = None,
        *,
        experiments: Sequence[str] = (),
        run_ids: Sequence[str] = (),
        state_path: str | None = None,
        proxied_artifacts: str | None = None,
    ) -> None:
        self.source_uri = source or default_tracking_uri()
        self.destination_uri = destination
        if self.source_uri.rstrip("/") == destination.rstrip("/"):
            raise InvalidParameterValueError(f"Source and destination are the same: {destination}")
        require_existing(self.source_uri, "sync")
        self.experiments = tuple(experiments)
        self.run_ids = tuple(run_ids)
        self.proxied_artifacts = proxied_artifacts
        self._stores = StoreCache()
        self.source = Client(self.source_uri, stores=self._stores)
        self.destination = Client(destination, stores=self._stores)
        path = state_path or default_state_path(self.source_uri, destination)
        self.state = SyncState.load(path, self.source_uri, destination)
        self._experiment_ids: dict[str, str] = {}
        self._saved_at = 0.0
        self._unsaved = False

    def close(self) -> None:
        self._save(force=True)
        self._stores.close()

    # -- selection ---------------------------------------------------------------------------

    def select_runs(self) -> list[Run]:
        """The active runs to sync: those named, else those of the named experiments, else
        every active experiment's."""
        if self.run_ids:
            runs = [self.source.get_run(run_id) for run_id in self.run_ids]
            wanted = set(self._source_experiment_ids()) if self.experiments else None
            return [r for r in runs if wanted is None or r.info.experiment_id in wanted]
        ids = self._source_experiment_ids()
        return self.source.search_all_runs(
            ids, run_view_type=ViewType.ACTIVE_ONLY, max_results=ALL_RUNS
        )

    def _source_experiment_ids(self) -> list[str]:
        if not self.experiments:
            return [e.experiment_id for e in _all_experiments(self.source)]
        ids = []
        for name in self.experiments:
            found = self.source.get_experiment_by_name(name)
            if found is None:
                raise ResourceDoesNotExistError(
                    f"No experiment named {name!r} in {self.source_uri}."
                )
            ids.append(found.experiment_id)
        return ids

    # -- passes ------------------------------------------------------------------------------

    def sync_once(self, quick: bool = False, runs: Iterable[Run] | None = None) -> SyncSummary:
        """Send what is new of each selected run. A run the destination refuses is counted
        as failed and the others go on; an unreachable destination stops the pass (raises
        ConnectionError). `quick` skips finished runs whose record did not change."""
        summary = SyncSummary()
        try:
            for run in self.select_runs() if runs is None else runs:
                summary.add(self.sync_run(run, quick))
        finally:
            self._save(force=True)
        return summary

    def _save(self, force: bool) -> None:
        """Write the state after a run that changed, at most about once a second (each
        write rewrites the whole file; a big first sync would spend its time there), and at
        the end of a pass. An interruption loses at most a second of progress: re-sent."""
        now = time.monotonic()
        if self._unsaved and (force or now - self._saved_at >= SAVE_EVERY_SECONDS):
            self.state.save()
            self._saved_at, self._unsaved = now, False

    def follow(
        self,
        stop: threading.Event,
        interval: float,
        on_pass: Callable[[SyncSummary], None] | None = None,
        on_error: Callable[[Exception], None] | None = None,
    ) -> None:
        """Sync, then again every `interval` seconds, until `stop` is set. Errors of a pass
        (the destination down) go to `on_error` and the next pass tries again. Since the
        next pass is the retry, a pass stops at its first refused request instead of
        retrying it for up to CAIRN_HTTP_REQUEST_RETRY_DEADLINE (a minute), which kept a
        relay from saying that the central server was gone."""
        first = True
        while not stop.is_set():
            try:
                with failing_fast():
                    summary = self.sync_once(quick=not first)
                first = False
                if on_pass is not None:
                    on_pass(summary)
            except (ConnectionError, CairnError, OSError) as error:
                if on_error is None:
                    raise
                on_error(error)
            stop.wait(interval)

    # -- one run -----------------------------------------------------------------------------

    def sync_run(self, run: Run, quick: bool = False) -> SyncSummary:
        """Send what the destination lacks of `run`; the state is saved afterwards."""
        run_id = run.info.run_id
        sent = SyncSummary()
        progress = self.state.runs.get(run_id)
        if quick and progress is not None and is_terminal(run.info.status):
            if progress.fingerprint == fingerprint(run):
                sent.runs_unchanged = 1
                return sent
        try:
            created = progress is None
            progress = progress or self._create(run, sent)
            self._send(run, progress, sent)
        except CairnError as error:
            sent.runs_failed = 1
            sent.failures.append(f"run {run_id}: {error.message}")
            return sent
        digest = fingerprint(run)
        if sent.requests or progress.fingerprint != digest:
            progress.fingerprint = digest
            self.state.runs[run_id] = progress
            self._unsaved = True
            self._save(force=False)
        if created:
            sent.runs_created = 1
        elif sent.requests:
            sent.runs_updated = 1
        else:
            sent.runs_unchanged = 1
        return sent

    def _create(self, run: Run, sent: SyncSummary) -> RunProgress:
        """Create the run on the destination with its id (a no-op if it is there already:
        then what it holds seeds the progress, so only the difference is sent)."""
        info = run.info
        tags = {USER_TAG: run.data.tags.get(USER_TAG, info.user_id)}
        made = self.destination.create_run(
            self.destination_experiment(info.experiment_id, sent),
            start_time=info.start_time,
            tags=tags,
            run_name=info.run_name,
            run_id=info.run_id,
        )
        sent.requests += 1
        source_tags, source_params = run.data.tags, run.data.params
        return RunProgress(
            destination_run_id=made.info.run_id,
            destination_artifact_uri=made.info.artifact_uri,
            status=made.info.status,
            end_time=made.info.end_time,
            params={k: v for k, v in made.data.params.items() if source_params.get(k) == v},
            tags={k: v for k, v in made.data.tags.items() if source_tags.get(k) == v},
        )

    def destination_experiment(self, source_id: str, sent: SyncSummary) -> str:
        """The destination's experiment of the same name, created (with the source's tags)
        when missing; Default maps to Default."""
        if source_id == DEFAULT_EXPERIMENT_ID:
            return DEFAULT_EXPERIMENT_ID
        known = self._experiment_ids.get(source_id)
        if known is not None:
            return known
        experiment = self.source.get_experiment(source_id)
        found = self.destination.get_experiment_by_name(experiment.name)
        if found is not None and found.lifecycle_stage != LifecycleStage.ACTIVE:
            raise InvalidParameterValueError(
                f"The experiment {experiment.name!r} is deleted on {self.destination_uri}."
            )
        if found is None:
            destination_id = self.destination.create_experiment(
                experiment.name, tags=experiment.tags
            )
            sent.requests += 1
        else:
            destination_id = found.experiment_id
        self._experiment_ids[source_id] = destination_id
        return destination_id

    def _send(self, run: Run, progress: RunProgress, sent: SyncSummary) -> None:
        """Values first, then datasets, files and models, and the run's end last: a reader
        of the destination never sees a run ended whose data is still coming."""
        self._send_values(run, progress, sent)
        self._send_datasets(run, progress, sent)
        self._send_artifacts(run, progress, sent)
        sent.models += sync_models.send_models(self, run, progress, sent)
        self._send_end(run, progress, sent)

    def _send_values(self, run: Run, progress: RunProgress, sent: SyncSummary) -> None:
        target = progress.destination_run_id
        params = [Param(k, v) for k, v in run.data.params.items() if progress.params.get(k) != v]
        tags = [RunTag(k, v) for k, v in run.data.tags.items() if progress.tags.get(k) != v]
        metrics: list[Metric] = []
        reached: dict[str, MetricProgress] = {}
        for key in sorted(run.data.metrics):
            history = self.source.get_metric_history(run.info.run_id, key)
            fresh, reached[key] = new_points(history, progress.metrics.get(key, MetricProgress()))
            metrics.extend(fresh)
        for batch in batches(metrics, params, tags):
            self.destination.log_batch(target, batch.metrics, batch.params, batch.tags)
            sent.requests += 1
        for key in [k for k in progress.tags if k not in run.data.tags]:
            try:
                self.destination.delete_tag(target, key)
                sent.requests += 1
            except ResourceDoesNotExistError:
                pass
            del progress.tags[key]
        progress.params.update((p.key, p.value) for p in params)
        progress.tags.update((t.key, t.value) for t in tags)
        progress.metrics.update(reached)
        sent.points += len(metrics)
        sent.params += len(params)
        sent.tags += len(tags)

    def _send_datasets(self, run: Run, progress: RunProgress, sent: SyncSummary) -> None:
        target = progress.destination_run_id
        inputs = [
            d for d in run.inputs.dataset_inputs if dataset_identity(d) not in progress.inputs
        ]
        if inputs:
            self.destination.log_inputs(target, inputs)
            progress.inputs.extend(dataset_identity(d) for d in inputs)
            sent.requests += 1
        outputs = [
            d for d in run.outputs.dataset_outputs if dataset_identity(d) not in progress.outputs
        ]
        if outputs:
            self.destination.store.log_dataset_outputs(target, outputs)
            progress.outputs.extend(dataset_identity(d) for d in outputs)
            sent.requests += 1
        sent.datasets += len(inputs) + len(outputs)

    def _send_artifacts(self, run: Run, progress: RunProgress, sent: SyncSummary) -> None:
        source = self.source_repository(run.info.artifact_uri)
        target: ArtifactRepository | None = None
        for path, size in sync_artifacts.walk_files(source):
            if progress.artifacts.get(path) == size:
                continue
            target = target or artifact_repository(
                progress.destination_artifact_uri, self.destination_uri
            )
            sync_artifacts.copy_file(source, target, path)
            progress.artifacts[path] = size
            sent.artifact_files += 1
            sent.artifact_bytes += size
            sent.requests += 1

    def source_repository(self, root_uri: str) -> ArtifactRepository:
        return sync_artifacts.source_repository(root_uri, self.source_uri, self.proxied_artifacts)

    def _send_end(self, run: Run, progress: RunProgress, sent: SyncSummary) -> None:
        info = run.info
        if info.status == progress.status and info.end_time == progress.end_time:
            return
        if is_terminal(info.status):
            self.destination.set_terminated(progress.destination_run_id, info.status, info.end_time)
        else:
            self.destination.update_run(
                progress.destination_run_id, status=RunStatus.parse(info.status).value
            )
        progress.status, progress.end_time = info.status, info.end_time
        sent.requests += 1


def _all_experiments(client: Client) -> list[Experiment]:
    found: list[Experiment] = []
    token: str | None = None
    while True:
        page = client.search_experiments(ViewType.ACTIVE_ONLY, page_token=token)
        found.extend(page)
        token = page.token
        if not token:
            return found
