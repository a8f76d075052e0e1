"""Experiments, runs, datasets and artifact listings on the wire (MLflow's `service.proto`).

Output follows MLflow's proto JSON: snake_case names, int64 as numbers, unset fields left out,
empty repeated fields of a run's data left out. A run's info carries `run_uuid` beside
`run_id`, as MLflow's clients of every age read one or the other.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cairn.entities import (
    Dataset,
    DatasetInput,
    Experiment,
    ExperimentTag,
    FileInfo,
    InputTag,
    LifecycleStage,
    Param,
    Run,
    RunData,
    RunInfo,
    RunInputs,
    RunOutputs,
    RunStatus,
    RunTag,
)
from cairn.exceptions import InvalidParameterValueError
from cairn.wire.fields import (
    as_list,
    field,
    integer,
    optional_integer,
    pairs,
    parse_pairs,
    parse_tag_map,
    present,
    text,
)
from cairn.wire.logged_models import model_output, parse_model_outputs
from cairn.wire.metrics import metric, parse_metrics
from cairn.wire.scalars import parse_id, parse_run_status

# -- experiments ---------------------------------------------------------------------------


def experiment(e: Experiment) -> dict[str, Any]:
    return present(
        {
            "experiment_id": e.experiment_id,
            "name": e.name,
            "artifact_location": e.artifact_location,
            "lifecycle_stage": e.lifecycle_stage,
            "last_update_time": e.last_update_time,
            "creation_time": e.creation_time,
            "tags": pairs(e.tags),
        }
    )


def parse_experiment(e: Mapping[str, Any]) -> Experiment:
    path = "experiment"
    return Experiment(
        experiment_id=parse_id(f"{path}.experiment_id", field(path, e, "experiment_id", True)),
        name=text(path, e, "name"),
        artifact_location=text(path, e, "artifact_location"),
        lifecycle_stage=text(path, e, "lifecycle_stage") or LifecycleStage.ACTIVE,
        tags=parse_tag_map(e.get("tags"), f"{path}.tags"),
        creation_time=optional_integer(path, e, "creation_time"),
        last_update_time=optional_integer(path, e, "last_update_time"),
    )


def parse_experiment_tags(items: Any, name: str = "tags") -> list[ExperimentTag]:
    return [ExperimentTag(k, v) for k, v in parse_pairs(items, name)]


# -- runs ----------------------------------------------------------------------------------


def run_info(info: RunInfo) -> dict[str, Any]:
    return present(
        {
            "run_id": info.run_id,
            "run_uuid": info.run_id,
            "run_name": info.run_name,
            "experiment_id": info.experiment_id,
            "user_id": info.user_id,
            "status": info.status,
            "start_time": info.start_time,
            "end_time": info.end_time,
            "artifact_uri": info.artifact_uri,
            "lifecycle_stage": info.lifecycle_stage,
        }
    )


def parse_run_info(i: Mapping[str, Any]) -> RunInfo:
    """`run_id`, or MLflow's legacy `run_uuid`; a status by name or proto number."""
    path = "run.info"
    run_id = text(path, i, "run_id") or text(path, i, "run_uuid")
    if not run_id:
        raise InvalidParameterValueError(f"Missing value for required parameter '{path}.run_id'.")
    status = i.get("status")
    return RunInfo(
        run_id=run_id,
        experiment_id=parse_id(f"{path}.experiment_id", field(path, i, "experiment_id", True)),
        run_name=text(path, i, "run_name"),
        user_id=text(path, i, "user_id"),
        status=(RunStatus.RUNNING if status is None else parse_run_status(status)).value,
        start_time=integer(path, i, "start_time"),
        end_time=optional_integer(path, i, "end_time"),
        artifact_uri=text(path, i, "artifact_uri"),
        lifecycle_stage=text(path, i, "lifecycle_stage") or LifecycleStage.ACTIVE,
    )


def run(r: Run) -> dict[str, Any]:
    data: dict[str, Any] = {}
    if r.data.latest_metrics:
        data["metrics"] = [metric(m) for m in r.data.latest_metrics]
    if r.data.params:
        data["params"] = pairs(r.data.params)
    if r.data.tags:
        data["tags"] = pairs(r.data.tags)
    inputs: dict[str, Any] = {}
    if r.inputs.dataset_inputs:
        inputs["dataset_inputs"] = [dataset_input(i) for i in r.inputs.dataset_inputs]
    out = {"info": run_info(r.info), "data": data, "inputs": inputs}
    outputs: dict[str, Any] = {}
    if r.outputs.model_outputs:
        outputs["model_outputs"] = [model_output(o) for o in r.outputs.model_outputs]
    if r.outputs.dataset_outputs:  # Cairn's addition; MLflow's clients skip unknown fields
        outputs["dataset_outputs"] = [dataset_input(i) for i in r.outputs.dataset_outputs]
    if outputs:
        out["outputs"] = outputs
    return out


def parse_run(r: Mapping[str, Any]) -> Run:
    info = field("run", r, "info", True)
    data = r.get("data") or {}
    inputs = r.get("inputs") or {}
    outputs = r.get("outputs") or {}
    return Run(
        info=parse_run_info(info),
        data=RunData(
            latest_metrics=tuple(parse_metrics(data.get("metrics"), "run.data.metrics")),
            params=parse_tag_map(data.get("params"), "run.data.params"),
            tags=parse_tag_map(data.get("tags"), "run.data.tags"),
        ),
        inputs=RunInputs(
            tuple(parse_dataset_inputs(inputs.get("dataset_inputs"), "run.inputs.dataset_inputs"))
        ),
        outputs=RunOutputs(
            tuple(parse_model_outputs(outputs.get("model_outputs"), "run.outputs.model_outputs")),
            tuple(
                parse_dataset_inputs(outputs.get("dataset_outputs"), "run.outputs.dataset_outputs")
            ),
        ),
    )


def parse_params(items: Any, name: str = "params") -> list[Param]:
    return [Param(k, v) for k, v in parse_pairs(items, name)]


def parse_run_tags(items: Any, name: str = "tags") -> list[RunTag]:
    return [RunTag(k, v) for k, v in parse_pairs(items, name)]


# -- datasets ------------------------------------------------------------------------------


def dataset(d: Dataset) -> dict[str, Any]:
    return present(
        {
            "name": d.name,
            "digest": d.digest,
            "source_type": d.source_type,
            "source": d.source,
            "schema": d.schema,
            "profile": d.profile,
        }
    )


def dataset_input(i: DatasetInput) -> dict[str, Any]:
    """A dataset as a run used it (log-inputs, a run's inputs and outputs)."""
    return {"tags": pairs(i.tags), "dataset": dataset(i.dataset)}


def parse_dataset_input(item: Any) -> DatasetInput:
    """Name, digest, source type and source are required; schema and profile optional."""
    if not isinstance(item, dict) or not isinstance(item.get("dataset"), dict):
        raise InvalidParameterValueError("Each dataset input needs a 'dataset' object.")
    d = item["dataset"]

    def value(name: str, required: bool) -> str | None:
        found = d.get(name)
        if found is not None and not isinstance(found, str):
            raise InvalidParameterValueError(f"Dataset field '{name}' must be a string.")
        if required and not found:
            raise InvalidParameterValueError(
                f"Missing value for required parameter 'dataset.{name}'."
            )
        return found

    tags = tuple(
        InputTag(str(t.get("key", "")), str(t.get("value", "")))
        for t in as_list("dataset_input.tags", item.get("tags"))
        if isinstance(t, dict)
    )
    name, digest, source_type, source = (
        value(f, True) or "" for f in ("name", "digest", "source_type", "source")
    )
    found = Dataset(
        name, digest, source_type, source, value("schema", False), value("profile", False)
    )
    return DatasetInput(found, tags)


def parse_dataset_inputs(items: Any, name: str = "datasets") -> list[DatasetInput]:
    return [parse_dataset_input(i) for i in as_list(name, items)]


# -- artifact listings ---------------------------------------------------------------------


def file_info(f: FileInfo) -> dict[str, Any]:
    out: dict[str, Any] = {"path": f.path, "is_dir": f.is_dir}
    if f.file_size is not None:
        out["file_size"] = f.file_size
    return out
