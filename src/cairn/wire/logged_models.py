"""MLflow 3's logged models on the wire: the model (`{info, data}`), the outputs that link
it to a run, its status enum and the `order_by` objects of its search."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cairn.entities import LoggedModel, LoggedModelOutput, LoggedModelStatus
from cairn.exceptions import InvalidParameterValueError
from cairn.wire.fields import (
    as_list,
    as_object,
    integer,
    optional_text,
    pairs,
    parse_tag_map,
    present,
    text,
)
from cairn.wire.metrics import model_metric, parse_model_metric
from cairn.wire.scalars import parse_id, parse_int

# The proto's enum numbers, which a client may send instead of the names.
_STATUS_NUMBERS = {
    1: LoggedModelStatus.PENDING,
    2: LoggedModelStatus.READY,
    3: LoggedModelStatus.UPLOAD_FAILED,
}


def logged_model(m: LoggedModel) -> dict[str, Any]:
    info: dict[str, Any] = {
        "model_id": m.model_id,
        "experiment_id": m.experiment_id,
        "name": m.name,
        "creation_timestamp_ms": m.creation_timestamp,
        "last_updated_timestamp_ms": m.last_updated_timestamp,
        "artifact_uri": m.artifact_uri,
        "status": m.status.value,
        "creator_id": m.creator_id,
        "model_type": m.model_type,
        "source_run_id": m.source_run_id,
        "status_message": m.status_message,
        "tags": pairs(m.tags),
    }
    data: dict[str, Any] = {
        "params": pairs(m.params),
        "metrics": [model_metric(x, m.model_id) for x in m.metrics],
    }
    return {"info": present(info), "data": data}


def parse_logged_model(m: Mapping[str, Any]) -> LoggedModel:
    info = m.get("info") or {}
    data = m.get("data") or {}
    path, metrics = "model.info", "model.data.metrics"
    return LoggedModel(
        model_id=text(path, info, "model_id", True),
        experiment_id=parse_id(f"{path}.experiment_id", info.get("experiment_id", "")),
        name=text(path, info, "name"),
        artifact_uri=text(path, info, "artifact_uri"),
        creation_timestamp=integer(path, info, "creation_timestamp_ms"),
        last_updated_timestamp=integer(path, info, "last_updated_timestamp_ms"),
        status=parse_logged_model_status(info.get("status") or LoggedModelStatus.PENDING),
        creator_id=optional_text(info.get("creator_id")),
        model_type=optional_text(info.get("model_type")),
        source_run_id=optional_text(info.get("source_run_id")),
        status_message=optional_text(info.get("status_message")),
        tags=parse_tag_map(info.get("tags"), f"{path}.tags"),
        params=parse_tag_map(data.get("params"), "model.data.params"),
        metrics=tuple(
            parse_model_metric(as_object(metrics, i, x), f"{metrics}[{i}]")
            for i, x in enumerate(as_list(metrics, data.get("metrics")))
        ),
    )


def parse_logged_model_status(value: Any) -> LoggedModelStatus:
    """By name (`LOGGED_MODEL_READY`, or the short `READY`) or proto number."""
    if isinstance(value, int) and not isinstance(value, bool) and value in _STATUS_NUMBERS:
        return _STATUS_NUMBERS[value]
    try:
        return LoggedModelStatus.parse(str(value))
    except ValueError:
        raise InvalidParameterValueError(
            f"Invalid value {value!r} for parameter 'status'."
        ) from None


# -- a run's outputs -----------------------------------------------------------------------


def model_output(o: LoggedModelOutput) -> dict[str, Any]:
    return {"model_id": o.model_id, "step": o.step}


def parse_model_outputs(items: Any, name: str = "models") -> list[LoggedModelOutput]:
    """`[{model_id, step}]` (`/runs/outputs`' `models`, a run's `model_outputs`)."""
    outputs = []
    for i, item in enumerate(as_list(name, items)):
        if not isinstance(item, dict) or not isinstance(item.get("model_id"), str):
            raise InvalidParameterValueError(f"{name}[{i}] must name a 'model_id'.")
        step = item.get("step")
        outputs.append(
            LoggedModelOutput(item["model_id"], 0 if step is None else parse_int("step", step))
        )
    return outputs


# -- search order --------------------------------------------------------------------------


def order_object(clause: str) -> dict[str, Any]:
    """`"metrics.acc DESC"` as MLflow's order_by object: logged-model search takes objects."""
    words = clause.strip().rsplit(None, 1)
    if len(words) == 2 and words[1].upper() in ("ASC", "DESC"):
        return {"field_name": words[0], "ascending": words[1].upper() == "ASC"}
    return {"field_name": clause.strip(), "ascending": True}


def parse_order_clause(index: int, item: Any) -> str:
    """MLflow's order_by object (`{field_name, ascending}`) as the search grammar's string."""
    if not isinstance(item, dict) or not isinstance(item.get("field_name"), str):
        raise InvalidParameterValueError(
            f"order_by[{index}] must be an object with a string 'field_name'."
        )
    if item.get("dataset_name") or item.get("dataset_digest"):
        raise InvalidParameterValueError("Ordering logged models by dataset is not supported yet.")
    ascending = item.get("ascending", True)
    if not isinstance(ascending, bool):
        raise InvalidParameterValueError(f"order_by[{index}].ascending must be a boolean.")
    return f"{item['field_name']} {'ASC' if ascending else 'DESC'}"
