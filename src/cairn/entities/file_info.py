"""An artifact listing entry, as MLflow's FileInfo: a path relative to the run's artifact root."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FileInfo:
    path: str
    is_dir: bool
    file_size: int | None = None  # None for directories
