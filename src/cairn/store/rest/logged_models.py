"""The LoggedModel calls of RestTrackingStore (MLflow 3's `/logged-models` endpoints)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from cairn import wire
from cairn.entities import (
    LoggedModel,
    LoggedModelMetric,
    LoggedModelOutput,
    LoggedModelStatus,
    PagedList,
)
from cairn.exceptions import InvalidParameterValueError, ResourceDoesNotExistError
from cairn.store.base import LOGGED_MODELS_MAX_RESULTS_DEFAULT
from cairn.store.rest.http import HttpSession

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
            tags=wire.pairs(tags) or None,
            params=wire.pairs(params) or None,
        )
        return wire.parse_logged_model(answer["model"])

    def get_logged_model(self, model_id: str, allow_deleted: bool = False) -> LoggedModel:
        fields = {"allow_deleted": "true"} if allow_deleted else {}
        answer = self._model_call("GET", _path(model_id), idempotent=True, **fields)
        return wire.parse_logged_model(answer["model"])

    def finalize_logged_model(self, model_id: str, status: LoggedModelStatus) -> LoggedModel:
        final = LoggedModelStatus.parse(status).value
        answer = self._model_call(
            "PATCH", _path(model_id), idempotent=True, model_id=model_id, status=final
        )
        return wire.parse_logged_model(answer["model"])

    def delete_logged_model(self, model_id: str) -> None:
        self._model_call("DELETE", _path(model_id))

    def set_logged_model_tags(self, model_id: str, tags: Mapping[str, str]) -> None:
        self._model_call(
            "PATCH", _path(model_id) + "/tags", idempotent=True, tags=wire.pairs(tags) or None
        )

    def delete_logged_model_tag(self, model_id: str, key: str) -> None:
        self._model_call("DELETE", f"{_path(model_id)}/tags/{quote(key, safe='')}")

    def log_logged_model_params(self, model_id: str, params: Mapping[str, str]) -> None:
        # MLflow's server reads the id from the body too (its request message has it).
        self._model_call(
            "POST",
            _path(model_id) + "/params",
            idempotent=True,
            model_id=model_id,
            params=wire.pairs(params) or None,
        )

    def log_model_metrics(self, model_id: str, metrics: Sequence[LoggedModelMetric]) -> None:
        """MLflow links metrics to a model through log-batch on the run that measured them."""
        by_run: dict[str, list[dict[str, Any]]] = {}
        for m in metrics:
            if not m.run_id:
                raise InvalidParameterValueError(
                    "Over REST a model's metric must name the run that measured it."
                )
            by_run.setdefault(m.run_id, []).append(wire.model_metric(m, model_id))
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
            order_by=[wire.order_object(o) for o in order_by] if order_by else None,
            page_token=page_token or None,
        )
        return wire.parse_page(answer, "models", wire.parse_logged_model)

    def log_outputs(self, run_id: str, models: Sequence[LoggedModelOutput]) -> None:
        self._model_call(
            "POST",
            "/runs/outputs",
            idempotent=True,
            run_id=run_id,
            models=[wire.model_output(m) for m in models],
        )


def _path(model_id: str) -> str:
    """The model's URL path. An id with a slash names no model (servers decode %2F before
    routing, so it would reach another endpoint or none)."""
    if not model_id or "/" in model_id or model_id in (".", ".."):
        raise ResourceDoesNotExistError(f"Logged model with ID '{model_id}' not found.")
    return "/logged-models/" + quote(model_id, safe="")
