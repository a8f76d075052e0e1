"""`cairn storage`: what each experiment holds (runs, metric points, artifact bytes), from
figures the store keeps as things are written; `--recount` counts them afresh."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import click

from cairn.entities import Experiment, ViewType
from cairn.entities.storage import ExperimentStorage
from cairn.exceptions import CairnError, ResourceDoesNotExistError
from cairn.store.base import StorageAccounting, TrackingStore
from cairn.store.uri import default_tracking_uri, require_existing, scheme_of, tracking_store
from cairn.wire.storage import storage_to_json

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")
_HEADER = ("EXPERIMENT", "ID", "RUNS", "METRIC POINTS", "ARTIFACTS", "FILES")
_RECOUNT_NEEDS_THE_DATABASE = (
    "--recount needs the database (sqlite:///…, postgresql://…, mysql+pymysql://…), not a "
    "server's URL: run it where the server's database and artifacts can be reached."
)


@click.command()
@click.option(
    "--tracking-uri",
    default=None,
    help="The store: a database URI or a server's URL (default: CAIRN_TRACKING_URI, "
    "else ./cairn-data/).",
)
@click.option(
    "--experiment",
    "experiments",
    multiple=True,
    metavar="NAME|ID",
    help="Only this experiment (repeatable; default: every experiment, deleted ones too).",
)
@click.option(
    "--recount",
    is_flag=True,
    help="Count afresh first: walk every run's and logged model's artifacts and count its "
    "metric points (needs a database URI, not a server's URL).",
)
@click.option(
    "--artifacts-destination",
    default=None,
    help="With --recount: where a server keeps the files of mlflow-artifacts:/ runs (its "
    "--artifacts-destination, a folder or s3://bucket/prefix).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
def storage(
    tracking_uri: str | None,
    experiments: Sequence[str],
    recount: bool,
    artifacts_destination: str | None,
    as_json: bool,
) -> None:
    """Show the storage each experiment holds: its runs (deleted ones count until `cairn gc`
    removes them), metric points, and artifact bytes and files of its runs and logged
    models.

    The figures are kept as things are logged. Files written around Cairn (the stock mlflow
    client writing straight to S3, a file removed by hand, an import's copied files, files
    from before the upgrade that added the figures) are not in them: `--recount` walks the
    artifact stores and rewrites the figures."""
    uri = tracking_uri or default_tracking_uri()
    if recount and scheme_of(uri) in ("http", "https"):
        raise click.UsageError(_RECOUNT_NEEDS_THE_DATABASE)
    with _errors():
        require_existing(uri, "count")
        store = tracking_store(uri)
        try:
            chosen = _experiments(store, experiments)
            if recount:
                _recount(store, [e.experiment_id for e in chosen], artifacts_destination)
            figures = _figures(store, [e.experiment_id for e in chosen])
        finally:
            store.close()
    if as_json:
        click.echo(json.dumps(_as_json(chosen, figures), indent=2))
    else:
        _print_table(chosen, figures)


@contextmanager
def _errors() -> Iterator[None]:
    try:
        yield
    except CairnError as error:
        raise click.ClickException(f"{error.error_code}: {error.message}") from None
    except ConnectionError as error:  # a server that cannot be reached
        raise click.ClickException(str(error)) from None


def _experiments(store: TrackingStore, wanted: Sequence[str]) -> list[Experiment]:
    """The named experiments (a name, else an id), or every experiment."""
    if not wanted:
        found: list[Experiment] = []
        token = None
        while True:
            page = store.search_experiments(ViewType.ALL, 1000, None, None, token)
            found += page
            token = page.token
            if token is None:
                return sorted(found, key=lambda e: int(e.experiment_id))
    chosen = []
    for text in dict.fromkeys(wanted):
        experiment = store.get_experiment_by_name(text)
        if experiment is None and text.isdigit():
            experiment = store.get_experiment(text)
        if experiment is None:
            raise ResourceDoesNotExistError(f"No experiment named or numbered {text!r}.")
        chosen.append(experiment)
    return chosen


def _recount(store: TrackingStore, experiment_ids: list[str], destination: str | None) -> None:
    # Imported here, as the other commands do: `cairn --help` need not load SQLAlchemy.
    from cairn.maintenance.storage import RecountReport, recount
    from cairn.store.sql.tracking import SqlTrackingStore

    if not isinstance(store, SqlTrackingStore):
        raise click.UsageError(_RECOUNT_NEEDS_THE_DATABASE)

    def progress(report: RecountReport) -> None:
        click.echo(f"recounted {report.runs} runs, {report.logged_models} logged models", err=True)

    report = recount(store, experiment_ids, destination, on_progress=progress)
    for line in report.unreachable:
        click.echo(f"files not counted: {line}", err=True)


def _figures(store: TrackingStore, experiment_ids: list[str]) -> dict[str, ExperimentStorage]:
    from cairn.store.rest import storage as rest_storage
    from cairn.store.rest.tracking import RestTrackingStore

    if isinstance(store, StorageAccounting):
        return store.experiment_storage(experiment_ids)
    if isinstance(store, RestTrackingStore):
        return rest_storage.experiment_storage(store, experiment_ids)
    raise click.UsageError(f"The store at {store!r} keeps no storage figures.")


def human_size(size: int) -> str:
    """Bytes in binary units, one decimal: `12.4 MiB`."""
    value = float(size)
    for unit in _UNITS:
        if value < 1024 or unit == _UNITS[-1]:
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def _print_table(chosen: list[Experiment], figures: dict[str, ExperimentStorage]) -> None:
    rows = [_row(e, figures.get(e.experiment_id, ExperimentStorage())) for e in chosen]
    total = ExperimentStorage(
        runs=sum(f.runs for f in figures.values()),
        deleted_runs=sum(f.deleted_runs for f in figures.values()),
        metric_points=sum(f.metric_points for f in figures.values()),
        artifact_bytes=sum(f.artifact_bytes for f in figures.values()),
        artifact_files=sum(f.artifact_files for f in figures.values()),
    )
    rows.append(("TOTAL", "", *_row_figures(total)))
    widths = [max(len(r[i]) for r in [_HEADER, *rows]) for i in range(len(_HEADER))]
    for line in [_HEADER, *rows]:
        cells = [
            cell.ljust(width) if i < 2 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(line, widths, strict=True))
        ]
        click.echo("  ".join(cells).rstrip())


def _row(experiment: Experiment, found: ExperimentStorage) -> tuple[str, ...]:
    name = experiment.name
    if experiment.lifecycle_stage == "deleted":
        name += " (deleted)"
    return (name, experiment.experiment_id, *_row_figures(found))


def _row_figures(found: ExperimentStorage) -> tuple[str, str, str, str]:
    runs = f"{found.runs:,}"
    if found.deleted_runs:
        runs += f" ({found.deleted_runs:,} deleted)"
    points, files = f"{found.metric_points:,}", f"{found.artifact_files:,}"
    return runs, points, human_size(found.artifact_bytes), files


def _as_json(chosen: list[Experiment], figures: dict[str, ExperimentStorage]) -> dict[str, Any]:
    """The API's JSON of the experiments, each with its name."""
    held = {e.experiment_id: figures.get(e.experiment_id, ExperimentStorage()) for e in chosen}
    found: dict[str, Any] = storage_to_json(held, {})["experiments"]
    for experiment in chosen:
        found[experiment.experiment_id]["name"] = experiment.name
    return {"experiments": found}
