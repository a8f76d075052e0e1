"""Artifact storage (local folders, S3) and MLflow's `mlflow.artifacts` helpers.

cairn.artifacts.load_dict("runs:/<run_id>/config.json")
"""

from __future__ import annotations

from cairn.artifacts.download import (
    download_artifacts,
    load_dict,
    load_image,
    load_table,
    load_text,
)

__all__ = ["download_artifacts", "load_dict", "load_image", "load_table", "load_text"]
