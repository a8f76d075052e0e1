"""Any store Cairn's store interfaces reach, read as an import's source: a Cairn database, a
`cairn server`, or a real `mlflow server` (Cairn's REST store speaks MLflow's REST API).

This is how `cairn import mlflow http://…` reads a server whose database the user cannot
reach, and how `cairn export mlflow` reads the Cairn store it exports.

Everything is read in pages. A listing that fails (an endpoint an older server lacks, such
as MLflow 2's missing logged models, or a server that stops answering) becomes a line in
`problems` and the rest goes on; a metric history that fails raises, so the copier skips
that run whole (and a later import tries it again) rather than importing it short.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from typing import TypeVar

from cairn.artifact_store.base import ArtifactRepository
from cairn.artifact_store.uri import artifact_repository
from cairn.entities import (
    Experiment,
    LoggedModel,
    ModelVersion,
    PagedList,
    RegisteredModel,
    Run,
    ViewType,
)
from cairn.exceptions import CairnError
from cairn.interchange.source import CHUNK_POINTS, SourceRun
from cairn.store.base import (
    MODEL_VERSIONS_MAX_RESULTS_LIMIT,
    REGISTERED_MODELS_MAX_RESULTS_LIMIT,
    SEARCH_MAX_RESULTS_LIMIT,
    MetricPoint,
)
from cairn.store.registry_validation import IS_PROMPT_TAG_KEY
from cairn.store.uri import registry_store, tracking_store

T = TypeVar("T")

#: MLflow's search-logged-models has no documented limit; a thousand is within every server's.
LOGGED_MODELS_PAGE = 1000
#: What a listing that fails raises: the store's own errors, and a server out of reach
#: (ServerUnavailableError is a ConnectionError).
READ_ERRORS = (CairnError, OSError)


class StoreSource:
    """Reads the store at `uri` (sqlite/postgresql/mysql Cairn database, or http(s) server)
    through `tracking_store(uri)` and `registry_store(uri)`.

    `problems` collects what could not be read, one line each, for the report.
    `chunk_points` bounds each chunk of a metric history (and each page asked for);
    `page_size` bounds every other page (None: the most each search allows)."""

    def __init__(
        self, uri: str, *, chunk_points: int = CHUNK_POINTS, page_size: int | None = None
    ) -> None:
        if chunk_points < 1 or (page_size is not None and page_size < 1):
            raise ValueError("chunk_points and page_size must be positive")
        self.uri = uri
        self.chunk_points = chunk_points
        self.page_size = page_size
        self.description = uri
        self.problems: list[str] = []
        self.tracking = tracking_store(uri)
        self.registry = registry_store(uri)

    # -- tracking ---------------------------------------------------------------------------

    def experiments(self) -> Iterator[Experiment]:
        """Active and deleted experiments."""

        def page(token: str | None) -> PagedList[Experiment]:
            return self.tracking.search_experiments(
                view_type=ViewType.ALL,
                max_results=self._page(SEARCH_MAX_RESULTS_LIMIT),
                page_token=token,
            )

        yield from self._listing("listing experiments", page)

    def run_count(self) -> int | None:
        return None  # the store APIs count no runs: the progress shows what is done

    def runs(self, experiment_id: str) -> Iterator[SourceRun]:
        """Active and deleted runs, each with the keys of its latest metrics as the keys
        to read histories of. The store gives no deletion time: `deleted_time` stays None."""

        def page(token: str | None) -> PagedList[SourceRun]:
            found = self.tracking.search_runs(
                [experiment_id],
                run_view_type=ViewType.ALL,
                max_results=self._page(SEARCH_MAX_RESULTS_LIMIT),
                page_token=token,
            )
            return PagedList((_source_run(run) for run in found), found.token)

        yield from self._listing(f"listing runs of experiment {experiment_id}", page)

    def metric_history(self, run_id: str, key: str) -> Iterator[Sequence[MetricPoint]]:
        """Pages of at most `chunk_points` points, asked for with `max_results` and page
        tokens: Cairn's stores and MLflow's get-history (since MLflow 2.x) page, so a long
        history is never in memory whole. A server that ignores `max_results` (an old
        MLflow) answers with the whole history at once; it is then cut into chunks, but was
        in memory whole. Errors are raised: the run is skipped, not imported short."""
        size = self.chunk_points
        token: str | None = None
        while True:
            page = self.tracking.get_metric_history(run_id, key, max_results=size, page_token=token)
            points = [(run_id, m.key, m.value, m.timestamp, m.step) for m in page]
            for start in range(0, len(points), size):
                yield points[start : start + size]
            if not page.token:
                return
            if not page or page.token == token:
                # A server that answers an empty page with a token would be asked forever.
                raise CairnError(
                    f"The history of {key!r} in run {run_id} pages without end "
                    f"(token {page.token!r} brings no points)."
                )
            token = page.token

    def logged_models(self, experiment_id: str) -> Iterator[LoggedModel]:
        """The experiment's logged models with params, tags and metrics (deleted ones are
        gone from MLflow's and Cairn's searches alike)."""

        def page(token: str | None) -> PagedList[LoggedModel]:
            return self.tracking.search_logged_models(
                [experiment_id], max_results=self._page(LOGGED_MODELS_PAGE), page_token=token
            )

        yield from self._listing(f"listing logged models of experiment {experiment_id}", page)

    # -- the registry -----------------------------------------------------------------------

    def registered_models(self) -> Iterator[RegisteredModel]:
        """Models, then prompts: a plain search leaves prompts out, as MLflow's does."""
        for what, filter_string in (
            ("listing registered models", None),
            ("listing prompts", _PROMPTS),
        ):

            def page(
                token: str | None, filter_string: str | None = filter_string
            ) -> PagedList[RegisteredModel]:
                return self.registry.search_registered_models(
                    filter_string,
                    max_results=self._page(REGISTERED_MODELS_MAX_RESULTS_LIMIT),
                    page_token=token,
                )

            yield from self._listing(what, page)

    def model_versions(self, name: str) -> Iterator[ModelVersion]:
        """Every version of `name` with its tags and aliases. MLflow's search-model-versions
        leaves aliases out, so each version also gets the aliases the registered model
        names it by."""
        what = f"listing versions of registered model {name!r}"
        quoted = _quoted(name)
        if quoted is None:
            self.problems.append(f"{what}: a name with both kinds of quote cannot be searched")
            return
        try:
            model = self.registry.get_registered_model(name)
        except READ_ERRORS as error:
            self.problems.append(f"{what}: {_message(error)}")
            return

        # A prompt's versions are found only when the filter asks for prompts.
        aliases = model.aliases
        is_prompt = model.tags.get(IS_PROMPT_TAG_KEY, "").lower() == "true"
        filter_string = f"name = {quoted}" + (f" AND {_PROMPT_VERSIONS}" if is_prompt else "")

        def page(token: str | None) -> PagedList[ModelVersion]:
            return self.registry.search_model_versions(
                filter_string,
                max_results=self._page(MODEL_VERSIONS_MAX_RESULTS_LIMIT),
                page_token=token,
            )

        for version in self._listing(what, page):
            named = [a for a, number in aliases.items() if number == version.version]
            yield _with_aliases(version, named)

    # -- files ------------------------------------------------------------------------------

    def artifacts(self, root_uri: str) -> ArtifactRepository | None:
        """`mlflow-artifacts:/` roots are read through the server's proxy, local paths
        and object stores directly; None (and a problem) for a root no repository reads."""
        try:
            return artifact_repository(root_uri, tracking_uri=self.uri)
        except (*READ_ERRORS, ImportError) as error:
            self.problems.append(f"artifacts at {root_uri}: {_message(error)}")
            return None

    def close(self) -> None:
        self.tracking.close()
        self.registry.close()

    # -- paging -----------------------------------------------------------------------------

    def _page(self, limit: int) -> int:
        return limit if self.page_size is None else min(self.page_size, limit)

    def _listing(self, what: str, page: Callable[[str | None], PagedList[T]]) -> Iterator[T]:
        """Every item of every page; a failure ends the listing with a problem."""
        token: str | None = None
        while True:
            try:
                items = page(token)
            except READ_ERRORS as error:
                self.problems.append(f"{what}: {_message(error)}")
                return
            yield from items
            if not items.token:
                return
            if not items or items.token == token:
                self.problems.append(f"{what}: the store pages without end; stopped")
                return
            token = items.token


def _source_run(run: Run) -> SourceRun:
    keys = tuple(dict.fromkeys(metric.key for metric in run.data.latest_metrics))
    return SourceRun(run, metric_keys=keys)


_PROMPTS = f"tags.`{IS_PROMPT_TAG_KEY}` = 'true'"
_PROMPT_VERSIONS = f"tag.`{IS_PROMPT_TAG_KEY}` = 'true'"


def _quoted(name: str) -> str | None:
    """`name` as a string literal of the search grammar, or None where no quoting holds it."""
    for quote in ("'", '"'):
        if quote not in name:
            return f"{quote}{name}{quote}"
    return None


def _with_aliases(version: ModelVersion, aliases: Sequence[str]) -> ModelVersion:
    merged = tuple(dict.fromkeys((*version.aliases, *aliases)))
    if merged == version.aliases:
        return version
    return replace(version, aliases=merged)


def _message(error: Exception) -> str:
    """On one line: a server's error page may span many."""
    text = error.message if isinstance(error, CairnError) else str(error)
    return " ".join(text.split())
