"""The fluent artifact functions: the Client's, applied to the active run."""

from __future__ import annotations

from typing import Any

from cairn.tracking.fluent import current_client, run_id_for_logging


def log_artifact(local_path: str, artifact_path: str | None = None) -> None:
    """Copy a local file into the active run's artifacts.

    Example:
        >>> cairn.log_artifact("confusion.png", artifact_path="plots")
    """
    current_client().log_artifact(run_id_for_logging(), local_path, artifact_path)


def log_artifacts(local_dir: str, artifact_path: str | None = None) -> None:
    """Copy a local directory's contents into the active run's artifacts."""
    current_client().log_artifacts(run_id_for_logging(), local_dir, artifact_path)


def log_text(text: str, artifact_file: str) -> None:
    """Store text as a file of the active run, e.g. `cairn.log_text(report, "report.md")`."""
    current_client().log_text(run_id_for_logging(), text, artifact_file)


def log_dict(dictionary: Any, artifact_file: str) -> None:
    """Store a dict as JSON (or YAML for .yaml/.yml) in the active run."""
    current_client().log_dict(run_id_for_logging(), dictionary, artifact_file)


def log_figure(
    figure: Any, artifact_file: str, *, save_kwargs: dict[str, Any] | None = None
) -> None:
    """Store a matplotlib or plotly figure in the active run."""
    run_id = run_id_for_logging()
    current_client().log_figure(run_id, figure, artifact_file, save_kwargs=save_kwargs)


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
    current_client().log_image(run_id_for_logging(), image, artifact_file, key, step, timestamp)


def log_table(data: Any, artifact_file: str) -> None:
    """Store a DataFrame or dict as a JSON table in the active run (appends if it exists)."""
    current_client().log_table(run_id_for_logging(), data, artifact_file)


def get_artifact_uri(artifact_path: str | None = None) -> str:
    """The active run's artifact root URI, or that of a path under it."""
    return current_client().get_artifact_uri(run_id_for_logging(), artifact_path)
