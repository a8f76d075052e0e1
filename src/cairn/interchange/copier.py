"""Walking a source into a target: experiments, logged models, runs (record, histories,
datasets, outputs, files, then the end), and the registry, with every entity counted.

A run the target already holds whole (`compare.differences` finds nothing) is counted as
present and not read again: that is what makes a re-import cheap and an incremental one
bring only what is new. A run or file that fails is skipped with its reason and the rest
goes on; nothing here stops at the first broken entity of a broken store.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace

from cairn.artifact_store.base import ArtifactRepository
from cairn.entities import Experiment, LoggedModel, ModelVersion
from cairn.exceptions import CairnError
from cairn.interchange import artifact_copy, compare
from cairn.interchange.report import FidelityReport
from cairn.interchange.source import CHUNK_POINTS, Source, SourceRun
from cairn.interchange.target import Target
from cairn.store.base import MetricPoint
from cairn.tracking import sync_artifacts

ARTIFACT_MODES = ("copy", "reference")
#: Runs compared with the target per query.
RUNS_PER_LOOKUP = 500

Progress = Callable[[str, int], None]


def _no_progress(label: str, advance: int) -> None:
    pass


class Copier:
    """Copies everything of `source` into `target` and counts it in `report`.

    `artifacts`: "copy" streams files into the target's artifact roots with checksums;
    "reference" keeps the source's artifact locations (files stay where they are).
    `progress(label, n)` is called as runs finish (label "runs") and files are copied."""

    def __init__(
        self,
        source: Source,
        target: Target,
        *,
        artifacts: str = "copy",
        progress: Progress = _no_progress,
    ) -> None:
        if artifacts not in ARTIFACT_MODES:
            raise ValueError(f"artifacts must be one of {ARTIFACT_MODES}, not {artifacts!r}")
        self.source = source
        self.target = target
        self.copy_files = artifacts == "copy"
        self.progress = progress
        self.report = FidelityReport(source.description, target.description)
        #: Source artifact roots → the target's, for rewriting model version sources.
        self.locations: dict[str, str] = {}

    def run(self) -> FidelityReport:
        started = time.monotonic()
        for experiment in list(self.source.experiments()):
            target_id = self._experiment(experiment)
            if target_id is None:
                continue
            self._logged_models(experiment.experiment_id, target_id)
            self._runs(experiment.experiment_id, target_id)
        self._registry()
        for problem in self.source.problems:
            self.report.problem(problem)
        self.report.seconds = time.monotonic() - started
        return self.report

    # -- experiments ------------------------------------------------------------------------

    def _experiment(self, experiment: Experiment) -> str | None:
        location = None if self.copy_files else experiment.artifact_location
        try:
            target_id, created = self.target.put_experiment(
                replace(experiment, artifact_location=location or "")
            )
        except CairnError as error:
            self.report.skip("experiments", f"{experiment.name!r}: {error.message}")
            return None
        self.report.count("experiments", source=1, imported=created, present=not created)
        if target_id != experiment.experiment_id:
            self.report.problem(
                f"experiment {experiment.name!r}: id {experiment.experiment_id} is {target_id} "
                "in the target (taken, or too large for it)"
            )
        return target_id

    # -- logged models ----------------------------------------------------------------------

    def _logged_models(self, source_experiment: str, target_experiment: str) -> None:
        for model in self.source.logged_models(source_experiment):
            self._logged_model(model, target_experiment)

    def _logged_model(self, model: LoggedModel, target_experiment: str) -> None:
        location = None if self.copy_files else model.artifact_uri
        try:
            target_uri, created = self.target.put_logged_model(model, target_experiment, location)
        except CairnError as error:
            self.report.skip("logged_models", f"{model.model_id}: {error.message}")
            return
        self.report.count("logged_models", source=1, imported=created, present=not created)
        self.locations[model.artifact_uri] = target_uri
        if created and self.copy_files:
            self._files(model.artifact_uri, target_uri, f"logged model {model.model_id}")

    # -- runs -------------------------------------------------------------------------------

    def _runs(self, source_experiment: str, target_experiment: str) -> None:
        batch: list[SourceRun] = []
        for item in self.source.runs(source_experiment):
            batch.append(item)
            if len(batch) == RUNS_PER_LOOKUP:
                self._run_batch(batch, target_experiment)
                batch = []
        if batch:
            self._run_batch(batch, target_experiment)

    def _run_batch(self, batch: Sequence[SourceRun], target_experiment: str) -> None:
        held = self.target.runs_of([item.run_id for item in batch])
        for item in batch:
            for problem in item.problems:
                self.report.problem(f"run {item.run_id}: {problem}")
            run = item.run
            there = held.get(item.run_id)
            if not compare.differences(run, there, target_experiment):
                assert there is not None
                self.locations[run.info.artifact_uri] = there.info.artifact_uri
                self._count_present(item)
            else:
                try:
                    self._copy_run(item, target_experiment)
                except (CairnError, OSError) as error:
                    message = error.message if isinstance(error, CairnError) else str(error)
                    self.report.skip("runs", f"{item.run_id}: {message}")
            self.progress("runs", 1)

    def _count_present(self, item: SourceRun) -> None:
        data = item.run.data
        self.report.count("runs", source=1, present=1)
        self.report.count("params", source=len(data.params), present=len(data.params))
        self.report.count("tags", source=len(data.tags), present=len(data.tags))
        datasets = len(item.run.inputs.dataset_inputs) + len(item.run.outputs.dataset_outputs)
        self.report.count("datasets", source=datasets, present=datasets)
        if item.point_count is not None:
            self.report.count("metric_points", source=item.point_count, present=item.point_count)

    def _copy_run(self, item: SourceRun, target_experiment: str) -> None:
        run = item.run
        location = None if self.copy_files else run.info.artifact_uri
        target_uri, conflicts = self.target.put_run(run, target_experiment, location)
        self.locations[run.info.artifact_uri] = target_uri
        data = run.data
        for key in conflicts:
            self.report.skip("params", f"run {item.run_id}: {key} holds another value")
        good = len(data.params) - len(conflicts)
        self.report.count("params", source=good, imported=good)
        self.report.count("tags", source=len(data.tags), imported=len(data.tags))
        self._histories(item)
        inputs, outputs = run.inputs.dataset_inputs, run.outputs.dataset_outputs
        if inputs or outputs:
            self.target.put_datasets(item.run_id, inputs, outputs)
            count = len(inputs) + len(outputs)
            self.report.count("datasets", source=count, imported=count)
        if run.outputs.model_outputs:
            self.target.put_model_outputs(item.run_id, run.outputs.model_outputs)
        if self.copy_files:
            self._files(run.info.artifact_uri, target_uri, f"run {item.run_id}")
        self.target.finish_run(run, item.deleted_time)
        self.report.count("runs", source=1, imported=1)

    def _histories(self, item: SourceRun) -> None:
        """Every history of the run, written in batches of about CHUNK_POINTS, several
        short histories to a transaction. (Reading ahead on a thread was measured slower:
        sqlite3 takes and releases the GIL at every row, so the threads fight over it.)"""
        batch: list[MetricPoint] = []
        for chunk in self._points_of(item):
            batch.extend(chunk)
            if len(batch) >= CHUNK_POINTS:
                self._put_points(batch)
                batch = []
        if batch:
            self._put_points(batch)

    def _points_of(self, item: SourceRun) -> Iterator[Sequence[MetricPoint]]:
        for key in item.metric_keys:
            yield from self.source.metric_history(item.run_id, key)

    def _put_points(self, points: list[MetricPoint]) -> None:
        self.target.put_metric_points(points)
        self.report.count("metric_points", source=len(points), imported=len(points))

    # -- files ------------------------------------------------------------------------------

    def _files(self, source_root: str, target_root: str, owner: str) -> None:
        if not source_root or source_root == target_root:
            return
        reader = self.source.artifacts(source_root)
        if reader is None:
            self.report.problem(f"{owner}: the files at {source_root} cannot be read")
            return
        writer = self.target.artifacts(target_root)
        held = _sizes(writer)
        for path, size in _walk(reader, self.report, owner):
            if held.get(path) == size:
                self.report.count("artifact_files", source=1, present=1)
                continue
            try:
                copied = artifact_copy.copy_file(reader, writer, path)
            except (CairnError, OSError) as error:
                message = error.message if isinstance(error, CairnError) else str(error)
                self.report.skip("artifact_files", f"{owner}: {path}: {message}")
                continue
            self.report.count("artifact_files", source=1, imported=1)
            self.report.artifact_bytes += copied.size
            if not copied.matches:
                self.report.checksum_mismatches += 1
                self.report.problem(f"{owner}: {path}: checksum mismatch after copying")
            self.progress("files", 1)

    # -- the registry -----------------------------------------------------------------------

    def _registry(self) -> None:
        for model in self.source.registered_models():
            try:
                created = self.target.put_registered_model(model)
            except CairnError as error:
                self.report.skip("registered_models", f"{model.name!r}: {error.message}")
                continue
            self.report.count("registered_models", source=1, imported=created, present=not created)
            # In number order: a store that numbers as it goes (an MLflow server) gets each
            # version under its own number.
            versions = sorted(self.source.model_versions(model.name), key=_number)
            for version in versions:
                self._version(version)

    def _version(self, version: ModelVersion) -> None:
        moved = replace(version, source=self.rewrite(version.source))
        try:
            created = self.target.put_model_version(moved)
        except CairnError as error:
            self.report.skip(
                "model_versions", f"{version.name!r} v{version.version}: {error.message}"
            )
            return
        self.report.count("model_versions", source=1, imported=created, present=not created)

    def rewrite(self, source: str) -> str:
        """A version's source under the imported location of the run or logged model it
        points into (the longest matching root); `runs:/` and `models:/` URIs, and
        anything outside what was imported, unchanged."""
        best = ""
        for root in self.locations:
            if root and (source == root or source.startswith(root.rstrip("/") + "/")):
                best = root if len(root) > len(best) else best
        if not best:
            return source
        return self.locations[best] + source[len(best) :]


def _number(version: ModelVersion) -> int:
    try:
        return int(version.version)
    except ValueError:
        return 0  # refused by the target, with its reason, in whatever order


def _sizes(repository: ArtifactRepository) -> dict[str, int]:
    """The files a target root holds already, with their sizes ({} when it is empty)."""
    try:
        return dict(sync_artifacts.walk_files(repository))
    except (CairnError, OSError):
        return {}


def _walk(
    repository: ArtifactRepository, report: FidelityReport, owner: str
) -> Iterable[tuple[str, int]]:
    try:
        yield from sync_artifacts.walk_files(repository)
    except (CairnError, OSError) as error:
        message = error.message if isinstance(error, CairnError) else str(error)
        report.problem(f"{owner}: listing files failed: {message}")
