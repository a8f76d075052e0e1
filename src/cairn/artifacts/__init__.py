"""Artifact storage (local folders, S3) and MLflow's `mlflow.artifacts` helpers.

    cairn.artifacts.load_dict("runs:/<run_id>/config.json")

The helpers load on first use, so `import cairn` stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cairn.artifacts.download import (
        download_artifacts,
        list_artifacts,
        load_dict,
        load_image,
        load_table,
        load_text,
    )

__all__ = [
    "download_artifacts",
    "list_artifacts",
    "load_dict",
    "load_image",
    "load_table",
    "load_text",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from cairn.artifacts import download

        return getattr(download, name)
    raise AttributeError(f"module 'cairn.artifacts' has no attribute {name!r}")
