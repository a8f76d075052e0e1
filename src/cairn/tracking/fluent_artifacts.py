"""The fluent artifact functions: the Client's, applied to the active run.

Files, folders, texts, dicts, figures, images and tables logged while the store cannot be
reached are written into a folder of the journal (a temporary folder without a journal
file) and uploaded when it is back (see cairn.tracking.journal): training never stops for
an upload."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from typing import Any

from cairn.artifact_paths import safe_relative
from cairn.tracking import artifact_formats as formats
from cairn.tracking import session
from cairn.tracking.artifact_logging import TABLE_FILE, image_artifact_file
from cairn.tracking.client import Client
from cairn.tracking.fluent import current_client, run_id_for_logging


def log_artifact(local_path: str, artifact_path: str | None = None) -> None:
    """Copy a local file into the active run's artifacts.

    Example:
        >>> cairn.log_artifact("confusion.png", artifact_path="plots")
    """

    def fill(folder: str) -> str | None:
        shutil.copy2(local_path, os.path.join(folder, os.path.basename(local_path)))
        return artifact_path

    if not os.path.isfile(local_path):  # refused now, not when the store is back
        raise FileNotFoundError(f"No file to log as an artifact: {local_path}")
    _log(lambda client, run_id: client.log_artifact(run_id, local_path, artifact_path), fill)


def log_artifacts(local_dir: str, artifact_path: str | None = None) -> None:
    """Copy a local directory's contents into the active run's artifacts."""

    def fill(folder: str) -> str | None:
        shutil.copytree(local_dir, folder, dirs_exist_ok=True)
        return artifact_path

    if not os.path.isdir(local_dir):
        raise FileNotFoundError(f"No directory to log as artifacts: {local_dir}")
    _log(lambda client, run_id: client.log_artifacts(run_id, local_dir, artifact_path), fill)


def log_text(text: str, artifact_file: str) -> None:
    """Store text as a file of the active run, e.g. `cairn.log_text(report, "report.md")`."""
    _log(
        lambda client, run_id: client.log_text(run_id, text, artifact_file),
        _object_in(artifact_file, lambda path: formats.write_text(path, text)),
    )


def log_dict(dictionary: Any, artifact_file: str) -> None:
    """Store a dict as JSON (or YAML for .yaml/.yml) in the active run."""
    _log(
        lambda client, run_id: client.log_dict(run_id, dictionary, artifact_file),
        _object_in(artifact_file, lambda path: formats.write_dict(path, dictionary)),
    )


def _object_in(artifact_file: str, write: Callable[[str], None]) -> Callable[[str], str | None]:
    """How a journal folder gets the file an object is written to."""
    directory, name = os.path.split(safe_relative(artifact_file))

    def fill(folder: str) -> str | None:
        write(os.path.join(folder, name))
        return directory or None

    return fill


def _log(
    now: Callable[[Client, str], None],
    fill: Callable[[str], str | None],
    call: str = "log_artifacts",
) -> None:
    current = session.current()
    run_id = run_id_for_logging()
    client = current.client()
    current.journal().artifacts(run_id, lambda: now(client, run_id), fill, call)


def log_figure(
    figure: Any, artifact_file: str, *, save_kwargs: dict[str, Any] | None = None
) -> None:
    """Store a matplotlib or plotly figure in the active run."""
    _log(
        lambda client, run_id: client.log_figure(
            run_id, figure, artifact_file, save_kwargs=save_kwargs
        ),
        _object_in(artifact_file, lambda path: formats.write_figure(path, figure, save_kwargs)),
    )


def log_image(
    image: Any,
    artifact_file: str | None = None,
    key: str | None = None,
    step: int | None = None,
    timestamp: int | None = None,
) -> None:
    """Store a numpy array or PIL image; with `key` and `step`, one frame of an image series.

    Example:
        >>> cairn.log_image(predicted_mask, key="segmentation", step=epoch)
    """
    image_file = image_artifact_file(artifact_file, key, step, timestamp)
    _log(
        lambda client, run_id: client.log_image(run_id, image, image_file),
        _object_in(image_file, lambda path: formats.write_image(path, image)),
    )


def log_table(data: Any, artifact_file: str) -> None:
    """Store a DataFrame or dict as a JSON table in the active run (appends if it exists;
    a table logged while the store cannot be reached is appended when it is back)."""
    table = formats.table_from(data)
    name = safe_relative(artifact_file)

    def fill(folder: str) -> str | None:
        formats.write_table(os.path.join(folder, TABLE_FILE), table)
        return name

    _log(lambda client, run_id: client.log_table(run_id, table, artifact_file), fill, "log_table")


def get_artifact_uri(artifact_path: str | None = None) -> str:
    """The active run's artifact root URI, or that of a path under it."""
    return current_client().get_artifact_uri(run_id_for_logging(), artifact_path)
