"""The public surface: sorted, complete, and named as MLflow names it."""

from __future__ import annotations

import subprocess
import sys

import cairn

MLFLOW_FLUENT_NAMES = {
    "active_run",
    "create_experiment",
    "delete_tag",
    "end_run",
    "get_experiment",
    "get_experiment_by_name",
    "get_run",
    "get_tracking_uri",
    "last_active_run",
    "log_input",
    "log_metric",
    "log_metrics",
    "log_param",
    "log_params",
    "register_model",
    "search_runs",
    "set_experiment",
    "set_tag",
    "set_tags",
    "set_tracking_uri",
    "start_run",
}


def test_all_is_sorted_and_complete() -> None:
    assert cairn.__all__ == sorted(cairn.__all__)
    for name in cairn.__all__:
        assert hasattr(cairn, name), name


def test_fluent_names_match_mlflow() -> None:
    assert MLFLOW_FLUENT_NAMES <= set(cairn.__all__)


def test_errors_carry_mlflow_codes_and_statuses() -> None:
    from cairn import exceptions as e

    assert (e.InvalidParameterValueError.error_code, e.InvalidParameterValueError.http_status) == (
        "INVALID_PARAMETER_VALUE",
        400,
    )
    assert e.ResourceAlreadyExistsError.http_status == 400  # MLflow answers 400, not 409
    assert e.ResourceDoesNotExistError.http_status == 404
    assert e.InvalidStateError.http_status == 500
    error = e.error_for_code("RESOURCE_DOES_NOT_EXIST", "gone")
    assert isinstance(error, e.ResourceDoesNotExistError) and error.message == "gone"
    assert e.error_for_code("SOMETHING_NEW", "x").error_code == "SOMETHING_NEW"


def test_import_is_light() -> None:
    """`import cairn` must not load the database layer or pandas (they load on first use)."""
    code = (
        "import sys, cairn; heavy = [m for m in ('sqlalchemy', 'pandas', 'alembic', 'numpy') "
        "if m in sys.modules]; print(','.join(heavy))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""


def test_mlflow_module_names_resolve() -> None:
    """`cairn.artifacts` and `cairn.types` answer to the names of `mlflow.artifacts` and
    `mlflow.types`; `cairn.models` gives the schema types too, as `mlflow.models` does."""
    from cairn.artifacts import (
        download_artifacts,
        list_artifacts,
        load_dict,
        load_image,
        load_table,
        load_text,
    )
    from cairn.types import ColSpec, DataType, ParamSchema, ParamSpec, Schema, TensorSpec

    helpers = (download_artifacts, list_artifacts, load_dict, load_image, load_table, load_text)
    assert sorted(f.__name__ for f in helpers) == cairn.artifacts.__all__
    exported = (ColSpec, DataType, ParamSchema, ParamSpec, Schema, TensorSpec)
    assert tuple(getattr(cairn.models, cls.__name__) for cls in exported) == exported


def test_genai_prompt_names_match_mlflow() -> None:
    """`cairn.genai` is reached lazily, as the model modules are, and its prompt functions
    carry `mlflow.genai`'s names; importing it stays light."""
    mlflow_prompt_names = {
        "delete_prompt_alias",
        "delete_prompt_tag",
        "delete_prompt_version_tag",
        "get_prompt_tags",
        "load_prompt",
        "register_prompt",
        "search_prompts",
        "set_prompt_alias",
        "set_prompt_tag",
        "set_prompt_version_tag",
    }
    assert cairn.genai.__all__ == sorted(cairn.genai.__all__)
    assert set(cairn.genai.__all__) == mlflow_prompt_names | {"Prompt", "PromptVersion"}
    code = (
        "import sys, cairn; assert 'cairn.genai' not in sys.modules; cairn.genai; "
        "heavy = [m for m in ('pandas', 'numpy') if m in sys.modules]; print(','.join(heavy))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""
