"""The model registry from the client side: the Client's registry methods (MLflow's names)
and `register_model`, which turns a logged model's URI into a new registered version."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from cairn.exceptions import ResourceAlreadyExistsError
from cairn.provenance.user import current_user
from cairn.store.base import (
    MODEL_VERSIONS_MAX_RESULTS_DEFAULT,
    REGISTERED_MODELS_MAX_RESULTS_DEFAULT,
    RegistryStore,
    TrackingStore,
)

if TYPE_CHECKING:  # `import cairn` loads none of these; the methods import what they run
    from cairn.entities import (
        ModelVersion,
        ModelVersionEvent,
        ModelVersionLineage,
        PagedList,
        RegisteredModel,
    )
    from cairn.store.uri import StoreCache
    from cairn.tracking.lineage import DatasetLineage


def _texts(values: Mapping[str, Any] | None) -> dict[str, str]:
    return {str(k): v if isinstance(v, str) else str(v) for k, v in (values or {}).items()}


class RegistryClient:
    """Mixed into `cairn.Client`; the registry lives in the tracking database (or behind the
    same server) unless `registry_uri` names another."""

    store: TrackingStore
    tracking_uri: str
    registry_uri: str | None
    _registry: RegistryStore | None
    _stores: StoreCache

    @property
    def registry(self) -> RegistryStore:
        """Built on first use: tracking-only scripts never touch the registry's tables."""
        if self._registry is None:
            self._registry = self._stores.registry(self.registry_uri or self.tracking_uri)
        return self._registry

    # -- registered models ---------------------------------------------------------------

    def create_registered_model(
        self,
        name: str,
        tags: Mapping[str, Any] | None = None,
        description: str | None = None,
    ) -> RegisteredModel:
        """Example:
        >>> client.create_registered_model("churn-model", tags={"team": "risk"})
        """
        return self.registry.create_registered_model(
            name, _texts(tags), description, current_user()
        )

    def get_registered_model(self, name: str) -> RegisteredModel:
        return self.registry.get_registered_model(name)

    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        return self.registry.rename_registered_model(name, new_name)

    def update_registered_model(self, name: str, description: str | None = None) -> RegisteredModel:
        return self.registry.update_registered_model(name, description)

    def delete_registered_model(self, name: str) -> None:
        self.registry.delete_registered_model(name)

    def search_registered_models(
        self,
        filter_string: str | None = None,
        max_results: int = REGISTERED_MODELS_MAX_RESULTS_DEFAULT,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[RegisteredModel]:
        """Example: `client.search_registered_models("name LIKE 'churn%'")`."""
        return self.registry.search_registered_models(
            filter_string, max_results, order_by, page_token
        )

    def set_registered_model_tag(self, name: str, key: str, value: Any) -> None:
        self.registry.set_registered_model_tag(name, key, str(value))

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        self.registry.delete_registered_model_tag(name, key)

    def get_latest_versions(
        self, name: str, stages: Sequence[str] | None = None
    ) -> list[ModelVersion]:
        """The newest version in each stage (all four when `stages` is None)."""
        return self.registry.get_latest_versions(name, stages)

    # -- model versions --------------------------------------------------------------------

    def create_model_version(
        self,
        name: str,
        source: str,
        run_id: str | None = None,
        tags: Mapping[str, Any] | None = None,
        run_link: str | None = None,
        description: str | None = None,
        model_id: str | None = None,
    ) -> ModelVersion:
        """Register `source` (`models:/<model_id>`, `runs:/<run_id>/<path>`, or a location
        inside the run's or model's artifacts) as the next version of `name`."""
        return self.registry.create_model_version(
            name, source, run_id, _texts(tags), run_link, description, model_id, current_user()
        )

    def get_model_version(self, name: str, version: str | int) -> ModelVersion:
        return self.registry.get_model_version(name, str(version))

    def update_model_version(
        self, name: str, version: str | int, description: str | None = None
    ) -> ModelVersion:
        return self.registry.update_model_version(name, str(version), description)

    def transition_model_version_stage(
        self,
        name: str,
        version: str | int,
        stage: str,
        archive_existing_versions: bool = False,
    ) -> ModelVersion:
        """Move a version to None, Staging, Production or Archived (any case); the move is
        recorded in `get_model_version_history`.

        Example:
            >>> client.transition_model_version_stage("churn-model", 3, "Production",
            ...                                       archive_existing_versions=True)
        """
        return self.registry.transition_model_version_stage(
            name, str(version), stage, archive_existing_versions, current_user()
        )

    def delete_model_version(self, name: str, version: str | int) -> None:
        self.registry.delete_model_version(name, str(version), current_user())

    def get_model_version_download_uri(self, name: str, version: str | int) -> str:
        return self.registry.get_model_version_download_uri(name, str(version))

    def search_model_versions(
        self,
        filter_string: str | None = None,
        max_results: int = MODEL_VERSIONS_MAX_RESULTS_DEFAULT,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[ModelVersion]:
        """Example: `client.search_model_versions("name = 'churn-model'")`."""
        return self.registry.search_model_versions(filter_string, max_results, order_by, page_token)

    def set_model_version_tag(self, name: str, version: str | int, key: str, value: Any) -> None:
        self.registry.set_model_version_tag(name, str(version), key, str(value))

    def delete_model_version_tag(self, name: str, version: str | int, key: str) -> None:
        self.registry.delete_model_version_tag(name, str(version), key)

    # -- aliases and history ---------------------------------------------------------------

    def set_registered_model_alias(self, name: str, alias: str, version: str | int) -> None:
        """Point `alias` (e.g. "champion") at a version; `models:/name@alias` then loads it."""
        self.registry.set_registered_model_alias(name, alias, str(version), current_user())

    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        self.registry.delete_registered_model_alias(name, alias, current_user())

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        return self.registry.get_model_version_by_alias(name, alias)

    def get_model_version_history(self, name: str, version: str | int) -> list[ModelVersionEvent]:
        """Every stage transition and alias move of the version (who, when, from, to),
        oldest first: Cairn's addition to MLflow's registry."""
        return self.registry.get_model_version_history(name, str(version))

    def get_model_version_lineage(self, name: str, version: str | int) -> ModelVersionLineage:
        """What a version was made from: its logged model, its run, the datasets the run
        read and the git commit it ran at (None where the version does not say).

        Example:
            >>> lineage = client.get_model_version_lineage("churn-model", 3)
            >>> lineage.git_commit, [d.dataset.name for d in lineage.datasets]
        """
        # Imported here, as the registry's other names: `import cairn` stays light.
        from cairn.entities import ModelVersionLineage
        from cairn.provenance.git import GIT_COMMIT_TAG
        from cairn.provenance.source import SOURCE_NAME_TAG
        from cairn.store.ids import logged_model_id_in

        mv = self.get_model_version(name, version)
        model_id = mv.model_id or logged_model_id_in(mv.source)
        logged = self.store.get_logged_model(model_id) if model_id else None
        run_id = mv.run_id or (logged.source_run_id if logged else None) or _run_id(mv.source)
        if run_id is None:
            return ModelVersionLineage(mv, logged)
        run = self.store.get_run(run_id)
        return ModelVersionLineage(
            mv,
            logged,
            run,
            run.inputs.dataset_inputs,
            run.data.tags.get(GIT_COMMIT_TAG),
            run.data.tags.get(SOURCE_NAME_TAG),
        )

    def get_dataset_lineage(self, digest: str) -> DatasetLineage:
        """Which runs read the dataset with `digest` (and in which context), which logged
        models they produced and which registered versions were trained on it.

        Example:
            >>> lineage = client.get_dataset_lineage("3f2a9c1d")
            >>> [(v.name, v.version) for v in lineage.model_versions]
        """
        from cairn.tracking.lineage import dataset_lineage

        return dataset_lineage(self.store, self.registry, digest)

    # -- register_model ----------------------------------------------------------------------

    def register_model(
        self, model_uri: str, name: str, tags: Mapping[str, Any] | None = None
    ) -> ModelVersion:
        """Create `name` if needed and register the model at `model_uri` as its next version.

        `models:/<model_id>` and `runs:/<run_id>/<name>` of a logged model are registered
        as MLflow 3 does (source `models:/<model_id>`, with its run); a `runs:/` path of
        plain run artifacts as that path inside the run's artifacts."""
        try:
            self.create_registered_model(name)
        except ResourceAlreadyExistsError:
            pass
        source, run_id, model_id = self._registration_source(model_uri)
        return self.create_model_version(name, source, run_id=run_id, tags=tags, model_id=model_id)

    def _registration_source(self, model_uri: str) -> tuple[str, str | None, str | None]:
        from cairn.store.ids import logged_model_id_in
        from cairn.tracking.model_uris import run_model_target

        model_id = logged_model_id_in(model_uri)
        if model_id is not None:
            logged = self.store.get_logged_model(model_id)
            return f"models:/{model_id}", logged.source_run_id, model_id
        if model_uri.startswith("runs:/"):
            run_id, name = model_uri[len("runs:/") :].strip("/").partition("/")[::2]
            logged_id = run_model_target(run_id, name)
            if logged_id is not None:
                return f"models:/{logged_id}", run_id, logged_id
            return model_uri, run_id, None
        return model_uri, None, None


def _run_id(source: str) -> str | None:
    if not source.startswith("runs:/"):
        return None
    return source[len("runs:/") :].strip("/").partition("/")[0] or None


def register_model(
    model_uri: str, name: str, tags: Mapping[str, Any] | None = None
) -> ModelVersion:
    """Register a logged model as the next version of `name` (created if new), on the
    current tracking URI's registry.

    Example:
        >>> mv = cairn.register_model(f"runs:/{run_id}/model", "churn-model")
        >>> mv.version
        '1'
    """
    from cairn.tracking import fluent

    return fluent.current_client().register_model(model_uri, name, tags)
