"""The Client's LoggedModel methods (MLflow 3's models logged from runs) and their files."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cairn.artifact_store.base import ArtifactRepository
from cairn.artifact_store.uri import artifact_repository
from cairn.entities import (
    FileInfo,
    LoggedModel,
    LoggedModelOutput,
    LoggedModelStatus,
    PagedList,
)
from cairn.exceptions import InvalidParameterValueError
from cairn.provenance.user import current_user
from cairn.store.base import LOGGED_MODELS_MAX_RESULTS_DEFAULT, TrackingStore

#: An order_by term: `"metrics.acc DESC"` or MLflow's `{"field_name": …, "ascending": …}`.
OrderTerm = str | Mapping[str, object]


def _texts(values: Mapping[str, Any] | None) -> dict[str, str]:
    return {str(k): v if isinstance(v, str) else str(v) for k, v in (values or {}).items()}


def _order_clause(term: OrderTerm) -> str:
    if isinstance(term, str):
        return term
    field = term.get("field_name")
    if not isinstance(field, str):
        raise InvalidParameterValueError(f"order_by term {term!r} needs a 'field_name'.")
    return f"{field} {'ASC' if term.get('ascending', True) else 'DESC'}"


class LoggedModelClient:
    store: TrackingStore
    tracking_uri: str

    def create_logged_model(
        self,
        experiment_id: str,
        name: str | None = None,
        source_run_id: str | None = None,
        tags: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        model_type: str | None = None,
    ) -> LoggedModel:
        """Create a PENDING model in the experiment; upload its files with
        `log_model_artifacts`, then `finalize_logged_model(model_id, "READY")`.

        Example:
            >>> model = client.create_logged_model("1", name="churn", source_run_id=run_id)
            >>> client.log_model_artifacts(model.model_id, "path/to/model_dir")
            >>> client.finalize_logged_model(model.model_id, "READY")
        """
        return self.store.create_logged_model(
            str(experiment_id),
            name,
            source_run_id,
            _texts(tags),
            _texts(params),
            model_type,
            creator_id=current_user(),
        )

    def get_logged_model(self, model_id: str) -> LoggedModel:
        return self.store.get_logged_model(model_id)

    def finalize_logged_model(self, model_id: str, status: LoggedModelStatus | str) -> LoggedModel:
        """Mark the model READY (or UPLOAD_FAILED); MLflow's and the short names both work."""
        try:
            final = LoggedModelStatus.parse(status)
        except ValueError:
            raise InvalidParameterValueError(f"Invalid logged model status {status!r}.") from None
        return self.store.finalize_logged_model(model_id, final)

    def delete_logged_model(self, model_id: str) -> None:
        self.store.delete_logged_model(model_id)

    def set_logged_model_tags(self, model_id: str, tags: Mapping[str, Any]) -> None:
        self.store.set_logged_model_tags(model_id, _texts(tags))

    def delete_logged_model_tag(self, model_id: str, key: str) -> None:
        self.store.delete_logged_model_tag(model_id, key)

    def log_model_params(self, model_id: str, params: Mapping[str, Any]) -> None:
        self.store.log_logged_model_params(model_id, _texts(params))

    def search_logged_models(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None = None,
        max_results: int = LOGGED_MODELS_MAX_RESULTS_DEFAULT,
        order_by: Sequence[OrderTerm] | None = None,
        page_token: str | None = None,
    ) -> PagedList[LoggedModel]:
        """Models of the experiments, e.g. `filter_string="metrics.acc > 0.9"`, newest first."""
        return self.store.search_logged_models(
            [str(e) for e in experiment_ids],
            filter_string,
            max_results,
            [_order_clause(t) for t in order_by or ()],
            page_token,
        )

    def log_outputs(self, run_id: str, models: Sequence[LoggedModelOutput]) -> None:
        """Record that the run produced these models."""
        self.store.log_outputs(run_id, models)

    # -- the model's files ---------------------------------------------------------------

    def _model_repository(self, model_id: str) -> ArtifactRepository:
        root = self.store.get_logged_model(model_id).artifact_uri
        return artifact_repository(root, self.tracking_uri)

    def log_model_artifacts(self, model_id: str, local_dir: str) -> None:
        """Upload a model directory (MLmodel and its files) to the model's artifact root."""
        from cairn.maintenance import artifact_usage as usage

        repository = self._model_repository(model_id)
        usage.write_counted(
            self.store,
            lambda: usage.folder_upload(repository, local_dir, None),
            lambda: repository.log_artifacts(local_dir),
            lambda store, added: store.add_model_artifact_usage(
                model_id, added.size_bytes, added.files
            ),
        )

    def list_logged_model_artifacts(self, model_id: str, path: str | None = None) -> list[FileInfo]:
        return self._model_repository(model_id).list_artifacts(path)

    def download_model_artifacts(self, model_id: str, dst_path: str | None = None) -> str:
        """Download the whole model directory; returns its local path."""
        return self._model_repository(model_id).download_artifacts("", dst_path)
