"""A garbage collection's request and report as JSON, for `POST /ajax-api/2.0/cairn/gc`."""

from __future__ import annotations

from typing import Any

from cairn.entities.gc import GcReport, GcRequest, Kept
from cairn.exceptions import InvalidParameterValueError
from cairn.wire.fields import as_list
from cairn.wire.scalars import parse_int


def request_to_json(request: GcRequest) -> dict[str, Any]:
    return {
        "older_than_ms": request.older_than_ms,
        "experiment_ids": list(request.experiment_ids),
        "run_ids": list(request.run_ids),
        "dry_run": request.dry_run,
        "apply_retention": request.apply_retention,
    }


def request_from_json(body: dict[str, Any]) -> GcRequest:
    older = body.get("older_than_ms")
    return GcRequest(
        older_than_ms=None if older is None else parse_int("older_than_ms", older),
        experiment_ids=tuple(_strings("experiment_ids", body)),
        run_ids=tuple(_strings("run_ids", body)),
        dry_run=_flag("dry_run", body),
        apply_retention=_flag("apply_retention", body),
    )


def report_to_json(report: GcReport) -> dict[str, Any]:
    return {
        "dry_run": report.dry_run,
        "runs": report.runs,
        "experiments": report.experiments,
        "logged_models": report.logged_models,
        "traces": report.traces,
        "metric_points": report.metric_points,
        "files": report.files,
        "bytes": report.bytes,
        "kept": [{"kind": k.kind, "id": k.id, "reason": k.reason} for k in report.kept],
        "retention_deleted": report.retention_deleted,
        "done": report.done,
    }


def report_from_json(body: dict[str, Any]) -> GcReport:
    return GcReport(
        dry_run=bool(body.get("dry_run", False)),
        runs=_strings("runs", body),
        experiments=_strings("experiments", body),
        logged_models=_strings("logged_models", body),
        traces=int(body.get("traces", 0)),
        metric_points=int(body.get("metric_points", 0)),
        files=int(body.get("files", 0)),
        bytes=int(body.get("bytes", 0)),
        kept=[
            Kept(str(k.get("kind", "")), str(k.get("id", "")), str(k.get("reason", "")))
            for k in as_list("kept", body.get("kept"))
            if isinstance(k, dict)
        ],
        retention_deleted=_strings("retention_deleted", body),
        done=bool(body.get("done", True)),
    )


def _strings(name: str, body: dict[str, Any]) -> list[str]:
    values = as_list(name, body.get(name))
    if not all(isinstance(v, str) for v in values):
        raise InvalidParameterValueError(f"Invalid value for parameter '{name}': expected strings.")
    return list(values)


def _flag(name: str, body: dict[str, Any]) -> bool:
    value = body.get(name, False)
    if not isinstance(value, bool):
        raise InvalidParameterValueError(
            f"Invalid value for parameter '{name}': expected true or false."
        )
    return value
