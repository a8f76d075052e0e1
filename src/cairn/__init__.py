"""Cairn: experiment tracking and a model registry, with MLflow's names.

    import cairn
    cairn.set_experiment("churn")
    with cairn.start_run(run_name="baseline"):
        cairn.log_param("max_depth", 5)
        cairn.log_metric("loss", 0.3, step=1)

Importing cairn is cheap: the database layer and pandas load on first use, and so do the
model modules (`cairn.models`, `cairn.pyfunc`, `cairn.sklearn`, `cairn.onnx`), the
dataset constructors (`cairn.data`) and the prompt registry (`cairn.genai`), which are
attributes of `cairn` all the same.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from cairn import artifacts
from cairn.entities import ViewType
from cairn.tracking.client import Client
from cairn.tracking.fluent import (
    ActiveRun,
    active_run,
    create_experiment,
    delete_tag,
    end_run,
    flush,
    get_experiment,
    get_experiment_by_name,
    get_run,
    get_tracking_uri,
    last_active_run,
    log_metric,
    log_metrics,
    log_param,
    log_params,
    search_runs,
    set_experiment,
    set_tag,
    set_tags,
    set_tracking_uri,
    start_run,
)
from cairn.tracking.fluent_artifacts import (
    get_artifact_uri,
    log_artifact,
    log_artifacts,
    log_dict,
    log_figure,
    log_image,
    log_table,
    log_text,
)
from cairn.tracking.fluent_data import log_input
from cairn.tracking.predictions import log_predictions
from cairn.tracking.registry import register_model
from cairn.version import __version__ as __version__

if TYPE_CHECKING:
    from cairn import data as data
    from cairn import genai as genai
    from cairn import models as models
    from cairn import onnx as onnx
    from cairn import pyfunc as pyfunc
    from cairn import sklearn as sklearn
    from cairn.integrations import autolog as autolog

__all__ = [
    "ActiveRun",
    "Client",
    "ViewType",
    "active_run",
    "artifacts",
    "create_experiment",
    "delete_tag",
    "end_run",
    "flush",
    "get_artifact_uri",
    "get_experiment",
    "get_experiment_by_name",
    "get_run",
    "get_tracking_uri",
    "last_active_run",
    "log_artifact",
    "log_artifacts",
    "log_dict",
    "log_figure",
    "log_image",
    "log_input",
    "log_metric",
    "log_metrics",
    "log_param",
    "log_params",
    "log_predictions",
    "log_table",
    "log_text",
    "register_model",
    "search_runs",
    "set_experiment",
    "set_tag",
    "set_tags",
    "set_tracking_uri",
    "start_run",
]

# Submodules reached as attributes but imported on first use: the model modules pull in
# numpy, pandas, scikit-learn or onnx; `data` is only needed to build datasets. Kept out of
# __all__ so `from cairn import *` stays light too.
_LAZY_SUBMODULES = (
    "data",
    "genai",
    "lightgbm",
    "models",
    "onnx",
    "optuna",
    "pyfunc",
    "pytorch",
    "sklearn",
    "transformers",
    "xgboost",
)


def __getattr__(name: str) -> Any:
    if name in _LAZY_SUBMODULES:
        return importlib.import_module(f"cairn.{name}")
    if name == "autolog":  # `cairn.autolog()`: loads the integrations only when called
        return importlib.import_module("cairn.integrations").autolog
    raise AttributeError(f"module 'cairn' has no attribute {name!r}")
