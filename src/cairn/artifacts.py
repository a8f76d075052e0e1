"""MLflow's `mlflow.artifacts` helpers: artifact URIs (`runs:/…`, `models:/…`, `s3://…`,
local paths) to local files, and the `load_*` readers built on them.

    cairn.artifacts.load_dict("runs:/<run_id>/config.json")

They work through the tracking API (`cairn.tracking.artifact_download`); the repositories
that store the files are `cairn.artifact_store`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cairn.tracking.artifact_download import (
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
    """The helpers load on first use, so `import cairn` stays light."""
    if name in __all__:
        from cairn.tracking import artifact_download

        return getattr(artifact_download, name)
    raise AttributeError(f"module 'cairn.artifacts' has no attribute {name!r}")
