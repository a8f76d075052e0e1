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

from cairn import wire
from cairn.entities import ModelVersion, ModelVersionEvent, PagedList, RegisteredModel
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
            tags=wire.pairs(tags) or None,
            description=description,
            user_id=user_id,
        )
        return wire.parse_registered_model(answer["registered_model"])

    def get_registered_model(self, name: str) -> RegisteredModel:
        answer = self._call("GET", "/registered-models/get", name=name)
        return wire.parse_registered_model(answer["registered_model"])

    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        answer = self._call("POST", "/registered-models/rename", name=name, new_name=new_name)
        return wire.parse_registered_model(answer["registered_model"])

    def update_registered_model(self, name: str, description: str | None) -> RegisteredModel:
        answer = self._call(
            "PATCH", "/registered-models/update", True, name=name, description=description
        )
        return wire.parse_registered_model(answer["registered_model"])

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
        return wire.parse_page(answer, "registered_models", wire.parse_registered_model)

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
        return wire.parse_items(answer, "model_versions", wire.parse_model_version)

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
            tags=wire.pairs(tags) or None,
            run_link=run_link,
            description=description,
            model_id=model_id,
            user_id=user_id,
        )
        return wire.parse_model_version(answer["model_version"])

    def get_model_version(self, name: str, version: str) -> ModelVersion:
        answer = self._call("GET", "/model-versions/get", name=name, version=str(version))
        return wire.parse_model_version(answer["model_version"])

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
        return wire.parse_model_version(answer["model_version"])

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
        return wire.parse_model_version(answer["model_version"])

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
        return wire.parse_page(answer, "model_versions", wire.parse_model_version)

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
        return wire.parse_model_version(answer["model_version"])

    def get_model_version_history(self, name: str, version: str) -> list[ModelVersionEvent]:
        answer = self._call("GET", "/model-versions/history", name=name, version=str(version))
        return wire.parse_items(answer, wire.HISTORY_FIELD, wire.parse_model_version_event)
