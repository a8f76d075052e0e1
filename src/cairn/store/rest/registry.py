"""RestRegistryStore: the RegistryStore contract over MLflow's registry REST API.

`registry_store("http://host:5000")` builds it; the server runs a SQL registry, which
validates everything, and its errors come back as the same CairnError subclasses.

Retried after transient failures: reads, searches, and writes whose repeat changes nothing
(tags upsert, descriptions are set absolutely). Creating, renaming, deleting, stage
transitions and alias moves are not: each leaves a trace (a version number, a history
event) that a blind repeat would double or turn into an error.

`user_id` is sent as a field of the calls that record who acted. MLflow's requests have no
such field; a Cairn server records it unless `--auth` names the caller itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cairn.entities import (
    ModelVersion,
    ModelVersionEvent,
    ModelVersionEventKind,
    PagedList,
    RegisteredModel,
)
from cairn.store.base import (
    MODEL_VERSIONS_MAX_RESULTS_DEFAULT,
    REGISTERED_MODELS_MAX_RESULTS_DEFAULT,
    RegistryStore,
)
from cairn.store.rest.http import HttpSession, shared_session

API = "/api/2.0/mlflow"


class RestRegistryStore(RegistryStore):
    """A tracking server's model registry, reached over HTTP(S)."""

    def __init__(self, uri: str, *, session: HttpSession | None = None) -> None:
        self.uri = uri
        self._http = session if session is not None else shared_session(uri.rstrip("/"))

    def _call(
        self, method: str, endpoint: str, idempotent: bool = False, **fields: Any
    ) -> dict[str, Any]:
        body = {k: v for k, v in fields.items() if v is not None}
        return self._http.call(method, API + endpoint, body, idempotent=idempotent or None)

    def close(self) -> None:
        """Nothing to release: the connection pool is shared by the process."""

    # -- registered models ----------------------------------------------------------------

    def create_registered_model(
        self,
        name: str,
        tags: Mapping[str, str] | None = None,
        description: str | None = None,
        user_id: str | None = None,
    ) -> RegisteredModel:
        answer = self._call(
            "POST",
            "/registered-models/create",
            name=name,
            tags=_pairs(tags),
            description=description,
            user_id=user_id,
        )
        return registered_model(answer["registered_model"])

    def get_registered_model(self, name: str) -> RegisteredModel:
        answer = self._call("GET", "/registered-models/get", name=name)
        return registered_model(answer["registered_model"])

    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        answer = self._call("POST", "/registered-models/rename", name=name, new_name=new_name)
        return registered_model(answer["registered_model"])

    def update_registered_model(self, name: str, description: str | None) -> RegisteredModel:
        answer = self._call(
            "PATCH", "/registered-models/update", True, name=name, description=description
        )
        return registered_model(answer["registered_model"])

    def delete_registered_model(self, name: str) -> None:
        self._call("DELETE", "/registered-models/delete", name=name)

    def search_registered_models(
        self,
        filter_string: str | None = None,
        max_results: int = REGISTERED_MODELS_MAX_RESULTS_DEFAULT,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[RegisteredModel]:
        answer = self._call(
            "GET",
            "/registered-models/search",
            filter=filter_string or None,
            max_results=max_results,
            order_by=list(order_by) if order_by else None,
            page_token=page_token or None,
        )
        found = [registered_model(m) for m in answer.get("registered_models") or ()]
        return PagedList(found, answer.get("next_page_token") or None)

    def set_registered_model_tag(self, name: str, key: str, value: str) -> None:
        self._call("POST", "/registered-models/set-tag", True, name=name, key=key, value=value)

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        self._call("DELETE", "/registered-models/delete-tag", name=name, key=key)

    def get_latest_versions(
        self, name: str, stages: Sequence[str] | None = None
    ) -> list[ModelVersion]:
        answer = self._call(
            "POST",
            "/registered-models/get-latest-versions",
            True,
            name=name,
            stages=list(stages) if stages else None,
        )
        return [model_version(v) for v in answer.get("model_versions") or ()]

    # -- model versions -------------------------------------------------------------------

    def create_model_version(
        self,
        name: str,
        source: str,
        run_id: str | None = None,
        tags: Mapping[str, str] | None = None,
        run_link: str | None = None,
        description: str | None = None,
        model_id: str | None = None,
        user_id: str | None = None,
    ) -> ModelVersion:
        answer = self._call(
            "POST",
            "/model-versions/create",
            name=name,
            source=source,
            run_id=run_id,
            tags=_pairs(tags),
            run_link=run_link,
            description=description,
            model_id=model_id,
            user_id=user_id,
        )
        return model_version(answer["model_version"])

    def get_model_version(self, name: str, version: str) -> ModelVersion:
        answer = self._call("GET", "/model-versions/get", name=name, version=str(version))
        return model_version(answer["model_version"])

    def update_model_version(
        self, name: str, version: str, description: str | None
    ) -> ModelVersion:
        answer = self._call(
            "PATCH",
            "/model-versions/update",
            True,
            name=name,
            version=str(version),
            description=description,
        )
        return model_version(answer["model_version"])

    def transition_model_version_stage(
        self,
        name: str,
        version: str,
        stage: str,
        archive_existing_versions: bool = False,
        user_id: str | None = None,
    ) -> ModelVersion:
        answer = self._call(
            "POST",
            "/model-versions/transition-stage",
            name=name,
            version=str(version),
            stage=str(getattr(stage, "value", stage)),
            archive_existing_versions=archive_existing_versions,
            user_id=user_id,
        )
        return model_version(answer["model_version"])

    def delete_model_version(self, name: str, version: str, user_id: str | None = None) -> None:
        self._call(
            "DELETE", "/model-versions/delete", name=name, version=str(version), user_id=user_id
        )

    def get_model_version_download_uri(self, name: str, version: str) -> str:
        answer = self._call(
            "GET", "/model-versions/get-download-uri", name=name, version=str(version)
        )
        return str(answer.get("artifact_uri") or "")

    def search_model_versions(
        self,
        filter_string: str | None = None,
        max_results: int = MODEL_VERSIONS_MAX_RESULTS_DEFAULT,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[ModelVersion]:
        answer = self._call(
            "GET",
            "/model-versions/search",
            filter=filter_string or None,
            max_results=max_results,
            order_by=list(order_by) if order_by else None,
            page_token=page_token or None,
        )
        found = [model_version(v) for v in answer.get("model_versions") or ()]
        return PagedList(found, answer.get("next_page_token") or None)

    def set_model_version_tag(self, name: str, version: str, key: str, value: str) -> None:
        self._call(
            "POST",
            "/model-versions/set-tag",
            True,
            name=name,
            version=str(version),
            key=key,
            value=value,
        )

    def delete_model_version_tag(self, name: str, version: str, key: str) -> None:
        self._call("DELETE", "/model-versions/delete-tag", name=name, version=str(version), key=key)

    # -- aliases and history --------------------------------------------------------------

    def set_registered_model_alias(
        self, name: str, alias: str, version: str, user_id: str | None = None
    ) -> None:
        self._call(
            "POST",
            "/registered-models/alias",
            name=name,
            alias=alias,
            version=str(version),
            user_id=user_id,
        )

    def delete_registered_model_alias(
        self, name: str, alias: str, user_id: str | None = None
    ) -> None:
        self._call("DELETE", "/registered-models/alias", name=name, alias=alias, user_id=user_id)

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        answer = self._call("GET", "/registered-models/alias", name=name, alias=alias)
        return model_version(answer["model_version"])

    def get_model_version_history(self, name: str, version: str) -> list[ModelVersionEvent]:
        answer = self._call("GET", "/model-versions/history", name=name, version=str(version))
        return [_event(e) for e in answer.get("events") or ()]


# -- JSON to entities ---------------------------------------------------------------------


def _pairs(mapping: Mapping[str, str] | None) -> list[dict[str, str]] | None:
    if not mapping:
        return None
    return [{"key": k, "value": v if isinstance(v, str) else str(v)} for k, v in mapping.items()]


def _tags(items: Any) -> dict[str, str]:
    return {str(t["key"]): str(t.get("value", "")) for t in items or ()}


def _optional(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def model_version(v: Mapping[str, Any]) -> ModelVersion:
    return ModelVersion(
        name=str(v["name"]),
        version=str(v["version"]),
        creation_timestamp=int(v.get("creation_timestamp") or 0),
        last_updated_timestamp=int(v.get("last_updated_timestamp") or 0),
        current_stage=str(v.get("current_stage") or "None"),
        description=str(v.get("description") or ""),
        source=str(v.get("source") or ""),
        run_id=_optional(v.get("run_id")),
        status=str(v.get("status") or "READY"),
        status_message=_optional(v.get("status_message")),
        user_id=_optional(v.get("user_id")),
        run_link=_optional(v.get("run_link")),
        model_id=_optional(v.get("model_id")),
        tags=_tags(v.get("tags")),
        aliases=tuple(str(a) for a in v.get("aliases") or ()),
    )


def registered_model(m: Mapping[str, Any]) -> RegisteredModel:
    return RegisteredModel(
        name=str(m["name"]),
        creation_timestamp=int(m.get("creation_timestamp") or 0),
        last_updated_timestamp=int(m.get("last_updated_timestamp") or 0),
        description=str(m.get("description") or ""),
        user_id=_optional(m.get("user_id")),
        latest_versions=tuple(model_version(v) for v in m.get("latest_versions") or ()),
        tags=_tags(m.get("tags")),
        aliases={str(a["alias"]): str(a["version"]) for a in m.get("aliases") or ()},
    )


def _event(e: Mapping[str, Any]) -> ModelVersionEvent:
    return ModelVersionEvent(
        name=str(e["name"]),
        version=str(e["version"]),
        kind=ModelVersionEventKind(e["kind"]),
        timestamp=int(e.get("timestamp") or 0),
        user_id=_optional(e.get("user_id")),
        from_value=_optional(e.get("from_value")),
        to_value=_optional(e.get("to_value")),
        alias=_optional(e.get("alias")),
    )
