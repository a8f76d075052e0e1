"""The Client's artifact methods: files, and Python objects written to files first.

A run's files live under its `artifact_uri`; the repository for it (local folder or S3) is
built once per run and kept.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from typing import Any

from cairn.artifact_paths import safe_relative
from cairn.artifact_store.base import ArtifactRepository
from cairn.artifact_store.uri import artifact_repository
from cairn.entities import FileInfo, LifecycleStage, RunTag
from cairn.exceptions import InvalidParameterValueError, ResourceDoesNotExistError
from cairn.store import validation as check
from cairn.store.base import TrackingStore
from cairn.tracking import artifact_formats as formats
from cairn.tracking.run_models import ModelPath, model_path

LOGGED_ARTIFACTS_TAG = "mlflow.loggedArtifacts"  # tables the UI can render, as MLflow lists them
TABLE_FILE = "table.json"  # a table that waits for the store, in its folder of the journal


def image_artifact_file(
    artifact_file: str | None, key: str | None, step: int | None, timestamp: int | None
) -> str:
    """`artifact_file`, or the file of one image of the series `key`
    (`images/<key>/step_<step, 10 digits>_<timestamp>.png`, so that they sort by step)."""
    if (artifact_file is None) == (key is None):
        raise InvalidParameterValueError("Give either artifact_file or key, not both.")
    if key is None:
        assert artifact_file is not None
        return artifact_file
    check.validate_key("Image", key)
    number = check.integer("step", step or 0)
    moment = int(time.time() * 1000) if timestamp is None else timestamp
    return f"images/{key}/step_{number:010d}_{moment}.png"


class ArtifactLogging:
    store: TrackingStore
    tracking_uri: str

    def _repository(self, run_id: str, writing: bool = False) -> ArtifactRepository:
        run = self.store.get_run(run_id)
        if writing and run.info.lifecycle_stage != LifecycleStage.ACTIVE:
            raise InvalidParameterValueError(
                f"The run {run_id} must be in the 'active' state to log artifacts."
            )
        return artifact_repository(run.info.artifact_uri, self.tracking_uri)

    def get_artifact_uri(self, run_id: str, artifact_path: str | None = None) -> str:
        """The URI of the run's artifact root, or of a path under it."""
        root = self.store.get_run(run_id).info.artifact_uri
        relative = safe_relative(artifact_path)
        return f"{root}/{relative}" if relative else root

    def log_artifact(self, run_id: str, local_path: str, artifact_path: str | None = None) -> None:
        """Copy a local file into the run's artifacts (under `artifact_path`, a directory)."""
        from cairn.maintenance import artifact_usage as usage

        repository = self._repository(run_id, writing=True)
        usage.write_counted(
            self.store,
            lambda: usage.file_upload(repository, local_path, artifact_path),
            lambda: repository.log_artifact(local_path, artifact_path),
            lambda store, added: store.add_artifact_usage(run_id, added.size_bytes, added.files),
        )

    def log_artifacts(self, run_id: str, local_dir: str, artifact_path: str | None = None) -> None:
        """Copy a local directory's contents into the run's artifacts."""
        from cairn.maintenance import artifact_usage as usage

        repository = self._repository(run_id, writing=True)
        usage.write_counted(
            self.store,
            lambda: usage.folder_upload(repository, local_dir, artifact_path),
            lambda: repository.log_artifacts(local_dir, artifact_path),
            lambda store, added: store.add_artifact_usage(run_id, added.size_bytes, added.files),
        )

    def log_capture_files(
        self, run_id: str, artifact_uri: str, folder: str, files: Sequence[tuple[str, str]]
    ) -> None:
        """Store a run's source and environment capture, `files` ((artifact path, local file)
        pairs, all in `folder`): hard links where the run's folder is local (the capture's
        files never change, and many runs share them), else an upload of `folder`."""
        from cairn.artifact_store.local import LocalArtifactRepository
        from cairn.maintenance import artifact_usage as usage

        repository = artifact_repository(artifact_uri, self.tracking_uri)

        def write() -> None:
            if isinstance(repository, LocalArtifactRepository):
                repository.link_files(files)
            else:
                repository.log_artifacts(folder)

        usage.write_counted(
            self.store,
            lambda: usage.listed_upload(repository, files),
            write,
            lambda store, added: store.add_artifact_usage(run_id, added.size_bytes, added.files),
        )

    def list_artifacts(self, run_id: str, path: str | None = None) -> list[FileInfo]:
        """The files and directories directly under `path` (the root when None). Where the
        run has nothing at `path`, a model logged from the run under the name of `path`'s
        first segment is listed instead (MLflow 3: `model/MLmodel`, … for "model")."""
        listed = self._repository(run_id).list_artifacts(path)
        if listed:
            return listed
        found = model_path(self.store, run_id, path)
        if found is None:
            return listed
        inside = self._model_files(found).list_artifacts(found.inner or None)
        return [
            FileInfo(f"{found.name}/{entry.path}", entry.is_dir, entry.file_size)
            for entry in inside
        ]

    def download_artifacts(self, run_id: str, path: str, dst_path: str | None = None) -> str:
        """Download a file or directory of the run; returns its local path. Where the run
        has nothing at `path`, its first segment names a model logged from the run, as in
        `list_artifacts`, which is downloaded to `<dst_path>/<name>` (MLflow 3)."""
        try:
            return self._repository(run_id).download_artifacts(path, dst_path)
        except ResourceDoesNotExistError:
            found = model_path(self.store, run_id, path)
            if found is None:
                raise
        target = os.path.join(dst_path or tempfile.mkdtemp(prefix="cairn-run-"), found.name)
        os.makedirs(target, exist_ok=True)
        files = self._model_files(found)
        if found.inner:
            return files.download_artifacts(found.inner, target)
        for entry in files.list_artifacts():  # the model's root: its entries, into <name>/
            files.download_artifacts(entry.path, target)
        return target

    def _model_files(self, found: ModelPath) -> ArtifactRepository:
        return artifact_repository(found.model.artifact_uri, self.tracking_uri)

    def _log_object(self, run_id: str, artifact_file: str, write: Callable[[str], None]) -> None:
        relative = safe_relative(artifact_file)
        if not relative:
            raise InvalidParameterValueError("artifact_file must name a file.")
        folder, _, name = relative.rpartition("/")
        with tempfile.TemporaryDirectory(prefix="cairn-log-") as scratch:
            local = os.path.join(scratch, name)
            write(local)
            self.log_artifact(run_id, local, folder or None)

    def log_text(self, run_id: str, text: str, artifact_file: str) -> None:
        """Store `text` as the file `artifact_file` (e.g. "notes/summary.md")."""
        self._log_object(run_id, artifact_file, lambda path: formats.write_text(path, text))

    def log_dict(self, run_id: str, dictionary: Any, artifact_file: str) -> None:
        """Store a dict as JSON, or as YAML when `artifact_file` ends in .yaml/.yml."""
        self._log_object(run_id, artifact_file, lambda path: formats.write_dict(path, dictionary))

    def log_figure(
        self,
        run_id: str,
        figure: Any,
        artifact_file: str,
        *,
        save_kwargs: dict[str, Any] | None = None,
    ) -> None:
        """Store a matplotlib figure (png, svg, pdf, …) or a plotly figure (html, json)."""
        self._log_object(
            run_id, artifact_file, lambda path: formats.write_figure(path, figure, save_kwargs)
        )

    def log_image(
        self,
        run_id: str,
        image: Any,
        artifact_file: str | None = None,
        key: str | None = None,
        step: int | None = None,
        timestamp: int | None = None,
    ) -> None:
        """Store a numpy array or PIL image as `artifact_file`, or as one image of the series
        `key` (`images/<key>/step_<step, 10 digits>_<timestamp>.png`), to show it over steps."""
        path = image_artifact_file(artifact_file, key, step, timestamp)
        self._log_object(run_id, path, lambda local: formats.write_image(local, image))

    def log_table(self, run_id: str, data: Any, artifact_file: str) -> None:
        """Store a DataFrame or dict as a JSON table; logging to the same file again appends."""
        import pandas

        table = formats.table_from(data)
        try:
            existing = formats.read_table(self.download_artifacts(run_id, artifact_file))
            table = pandas.concat([existing, table], ignore_index=True)
        except ResourceDoesNotExistError:
            self._note_table(run_id, safe_relative(artifact_file))
        self._log_object(run_id, artifact_file, lambda path: formats.write_table(path, table))

    def _note_table(self, run_id: str, path: str) -> None:
        tags = self.store.get_run(run_id).data.tags
        listed = json.loads(tags.get(LOGGED_ARTIFACTS_TAG, "[]"))
        if not any(entry.get("path") == path for entry in listed):
            listed.append({"path": path, "type": "table"})
            self.store.set_tag(run_id, RunTag(LOGGED_ARTIFACTS_TAG, json.dumps(listed)))
