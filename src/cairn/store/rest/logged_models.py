"""The LoggedModel calls of RestTrackingStore (MLflow 3's `/logged-models` endpoints)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from cairn.entities import (
    LoggedModel,
    LoggedModelMetric,
    LoggedModelOutput,
    LoggedModelStatus,
    PagedList,
)
from cairn.exceptions import InvalidParameterValueError, ResourceDoesNotExistError
from cairn.proto_json import encode_double
from cairn.store.base import LOGGED_MODELS_MAX_RESULTS_DEFAULT
from cairn.store.rest.http import HttpSession, decode_double

API = "/api/2.0/mlflow"


class RestLoggedModels:
    """Mixed into RestTrackingStore, which sets `_http`."""

    _http: HttpSession

    def _model_call(
        self, method: str, path: str, idempotent: bool = False, **fields: Any
    ) -> dict[str, Any]:
        body = {k: v for k, v in fields.items() if v is not None}
        return self._http.call(method, API + path, body, idempotent=idempotent)

    def create_logged_model(
        self,
        experiment_id: str,
        name: str | None = None,
        source_run_id: str | None = None,
        tags: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        model_type: str | None = None,
        creator_id: str | None = None,
    ) -> LoggedModel:
        # creator_id is not a field of MLflow's request: the server knows who calls.
        answer = self._model_call(
            "POST",
            "/logged-models",
            experiment_id=experiment_id,
            name=name,
            source_run_id=source_run_id,
            model_type=model_type,
            tags=_pairs(tags),
            params=_pairs(params),
        )
        return logged_model(answer["model"])

    def get_logged_model(self, model_id: str, allow_deleted: bool = False) -> LoggedModel:
        fields = {"allow_deleted": "true"} if allow_deleted else {}
        answer = self._model_call("GET", _path(model_id), idempotent=True, **fields)
        return logged_model(answer["model"])

    def finalize_logged_model(self, model_id: str, status: LoggedModelStatus) -> LoggedModel:
        final = LoggedModelStatus.parse(status).value
        answer = self._model_call(
            "PATCH", _path(model_id), idempotent=True, model_id=model_id, status=final
        )
        return logged_model(answer["model"])

    def delete_logged_model(self, model_id: str) -> None:
        self._model_call("DELETE", _path(model_id))

    def set_logged_model_tags(self, model_id: str, tags: Mapping[str, str]) -> None:
        self._model_call("PATCH", _path(model_id) + "/tags", idempotent=True, tags=_pairs(tags))

    def delete_logged_model_tag(self, model_id: str, key: str) -> None:
        self._model_call("DELETE", f"{_path(model_id)}/tags/{quote(key, safe='')}")

    def log_logged_model_params(self, model_id: str, params: Mapping[str, str]) -> None:
        self._model_call(
            "POST", _path(model_id) + "/params", idempotent=True, params=_pairs(params)
        )

    def log_model_metrics(self, model_id: str, metrics: Sequence[LoggedModelMetric]) -> None:
        """MLflow links metrics to a model through log-batch on the run that measured them."""
        by_run: dict[str, list[dict[str, Any]]] = {}
        for m in metrics:
            if not m.run_id:
                raise InvalidParameterValueError(
                    "Over REST a model's metric must name the run that measured it."
                )
            point = {
                "key": m.key,
                "value": encode_double(m.value),
                "timestamp": m.timestamp,
                "step": m.step,
                "model_id": model_id,
                "dataset_name": m.dataset_name,
                "dataset_digest": m.dataset_digest,
            }
            by_run.setdefault(m.run_id, []).append(
                {k: v for k, v in point.items() if v is not None}
            )
        for run_id, points in by_run.items():
            self._model_call(
                "POST", "/runs/log-batch", idempotent=True, run_id=run_id, metrics=points
            )

    def search_logged_models(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None = None,
        max_results: int = LOGGED_MODELS_MAX_RESULTS_DEFAULT,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[LoggedModel]:
        answer = self._model_call(
            "POST",
            "/logged-models/search",
            idempotent=True,
            experiment_ids=list(experiment_ids),
            filter=filter_string or None,
            max_results=max_results,
            order_by=[order_object(o) for o in order_by] if order_by else None,
            page_token=page_token or None,
        )
        found = [logged_model(m) for m in answer.get("models") or ()]
        return PagedList(found, answer.get("next_page_token") or None)

    def log_outputs(self, run_id: str, models: Sequence[LoggedModelOutput]) -> None:
        self._model_call(
            "POST",
            "/runs/outputs",
            idempotent=True,
            run_id=run_id,
            models=[{"model_id": m.model_id, "step": m.step} for m in models],
        )


def _path(model_id: str) -> str:
    """The model's URL path. An id with a slash names no model (servers decode %2F before
    routing, so it would reach another endpoint or none)."""
    if not model_id or "/" in model_id or model_id in (".", ".."):
        raise ResourceDoesNotExistError(f"Logged model with ID '{model_id}' not found.")
    return "/logged-models/" + quote(model_id, safe="")


def _pairs(mapping: Mapping[str, str] | None) -> list[dict[str, str]] | None:
    if not mapping:
        return None
    return [{"key": k, "value": v if isinstance(v, str) else str(v)} for k, v in mapping.items()]


def order_object(clause: str) -> dict[str, Any]:
    """`"metrics.acc DESC"` as MLflow's order_by object: logged-model search takes objects."""
    words = clause.strip().rsplit(None, 1)
    if len(words) == 2 and words[1].upper() in ("ASC", "DESC"):
        return {"field_name": words[0], "ascending": words[1].upper() == "ASC"}
    return {"field_name": clause.strip(), "ascending": True}


def logged_model(m: Mapping[str, Any]) -> LoggedModel:
    info = m.get("info") or {}
    data = m.get("data") or {}
    return LoggedModel(
        model_id=str(info["model_id"]),
        experiment_id=str(info.get("experiment_id", "")),
        name=str(info.get("name", "")),
        artifact_uri=str(info.get("artifact_uri", "")),
        creation_timestamp=int(info.get("creation_timestamp_ms") or 0),
        last_updated_timestamp=int(info.get("last_updated_timestamp_ms") or 0),
        status=LoggedModelStatus.parse(info.get("status") or "LOGGED_MODEL_PENDING"),
        creator_id=_optional_text(info.get("creator_id")),
        model_type=_optional_text(info.get("model_type")),
        source_run_id=_optional_text(info.get("source_run_id")),
        status_message=_optional_text(info.get("status_message")),
        tags={str(t["key"]): str(t.get("value", "")) for t in info.get("tags") or ()},
        params={str(p["key"]): str(p.get("value", "")) for p in data.get("params") or ()},
        metrics=tuple(_metric(x) for x in data.get("metrics") or ()),
    )


def _optional_text(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def _metric(m: Mapping[str, Any]) -> LoggedModelMetric:
    return LoggedModelMetric(
        key=str(m["key"]),
        value=decode_double(m["value"]),
        timestamp=int(m.get("timestamp", 0)),
        step=int(m.get("step", 0)),
        run_id=_optional_text(m.get("run_id")),
        dataset_name=_optional_text(m.get("dataset_name")),
        dataset_digest=_optional_text(m.get("dataset_digest")),
    )
