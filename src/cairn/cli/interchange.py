"""`cairn import mlflow|tensorboard` and `cairn export mlflow`: whole stores in and out,
with their identity, and a fidelity report of what came across."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

import click

from cairn.cli.sync import one_line
from cairn.exceptions import CairnError, InvalidParameterValueError

if TYPE_CHECKING:  # loaded when a command runs: `cairn --help` stays fast
    from cairn.interchange.report import FidelityReport
    from cairn.interchange.source import Source
    from cairn.interchange.target import Target

#: Exit status when something was skipped or a checksum did not match (the rest imported).
INCOMPLETE = 2

_to = click.option(
    "--to",
    "destination",
    default=None,
    help="Where it goes: a Cairn database URI or http(s)://server "
    "(default: CAIRN_TRACKING_URI, else ./cairn-data/).",
)
_report = click.option(
    "--report", "report_path", default=None, help="Also write the fidelity report as JSON here."
)
_artifacts = click.option(
    "--artifacts",
    type=click.Choice(["copy", "reference"]),
    default="copy",
    show_default=True,
    help="copy: stream files into the target, with checksums; reference: keep them where "
    "they are and point at them.",
)


@click.group("import")
def import_() -> None:
    """Bring runs, histories, models and artifacts in from another tracker."""


@import_.command("mlflow")
@click.argument("source")
@_to
@_artifacts
@_report
def import_mlflow(
    source: str, destination: str | None, artifacts: str, report_path: str | None
) -> None:
    """Import an MLflow store: a database (sqlite:///mlflow.db, postgresql://…,
    mysql+pymysql://…), an mlruns folder, or a server (http://…).

    Run ids, experiment ids (where free), times, full metric histories, datasets, logged
    models, registered models with their version numbers, stages and aliases, and
    artifacts come along. Running it again imports only what is new."""
    _transfer(
        lambda: mlflow_source(source), lambda: _cairn_target(destination), artifacts, report_path
    )


@import_.command("tensorboard")
@click.argument("logdir", type=click.Path(exists=True, file_okay=False))
@click.option("--experiment", default=None, help="Experiment name (default: LOGDIR's name).")
@_to
@_report
def import_tensorboard(
    logdir: str, experiment: str | None, destination: str | None, report_path: str | None
) -> None:
    """Import TensorBoard event files: one run per folder holding them, scalars with
    their steps and wall times, hparams as params, images as image series."""

    def source() -> Source:
        from cairn.interchange.tensorboard import TensorBoardSource

        return TensorBoardSource(logdir, experiment)

    _transfer(source, lambda: _cairn_target(destination), "copy", report_path)


@click.group("export")
def export() -> None:
    """Write a Cairn store out to another tracker."""


@export.command("mlflow")
@click.argument("destination")
@click.option(
    "--from",
    "origin",
    default=None,
    help="The Cairn store to export (default: CAIRN_TRACKING_URI, else ./cairn-data/).",
)
@click.option(
    "--artifact-root",
    default=None,
    help="Where exported files go in a database export: a folder or URI (default: an mlruns "
    "folder beside a SQLite database, else ./mlruns).",
)
@_report
def export_mlflow(
    destination: str, origin: str | None, artifact_root: str | None, report_path: str | None
) -> None:
    """Export into an MLflow database (sqlite:///…, postgresql://…, mysql+pymysql://…,
    created by MLflow) with run ids, times, histories, registry and artifacts, or into a
    running MLflow server (http://…).

    A server gives runs and logged models new ids: each keeps its Cairn id in the tag
    cairn.source_run_id (cairn.source_model_id), by which a later export finds it again.
    Exporting into the database keeps the ids."""

    def source() -> Source:
        from cairn.interchange.store_source import StoreSource
        from cairn.store.uri import default_tracking_uri, require_existing

        uri = origin or default_tracking_uri()
        require_existing(uri, "export")
        return StoreSource(uri)

    def target() -> Target:
        if destination.partition("://")[0].lower() in ("http", "https"):
            if artifact_root:
                raise InvalidParameterValueError(
                    "--artifact-root is for a database export: an MLflow server decides "
                    "where the files it is sent go."
                )
            from cairn.interchange.mlflow_rest_target import MLflowRestTarget

            return MLflowRestTarget(destination)
        from cairn.interchange.mlflow_sql_target import MLflowSqlTarget

        made: Target = MLflowSqlTarget(destination, artifact_root=artifact_root)
        return made

    _transfer(source, target, "copy", report_path)


def mlflow_source(text: str) -> Source:
    """The source a user means: a server URL, a database URL, an mlruns folder, or a
    SQLite file given as a path."""
    scheme = text.partition("://")[0].lower() if "://" in text else ""
    if scheme in ("http", "https"):
        from cairn.interchange.store_source import StoreSource

        return StoreSource(text.rstrip("/"))
    if scheme == "file" or (not scheme and os.path.isdir(text)):
        from cairn.interchange.mlflow_files import MLflowFileSource

        return MLflowFileSource(text)
    if not scheme and os.path.isfile(text):
        text = f"sqlite:///{os.path.abspath(text)}"
    elif not scheme:
        raise InvalidParameterValueError(
            f"No MLflow store at {text!r}: give a database URL (sqlite:///mlflow.db, "
            "postgresql://…), an mlruns folder or a server URL (http://…)."
        )
    from cairn.interchange.mlflow_sql import MLflowSqlSource
    from cairn.store.uri import require_existing

    require_existing(text, "import")

    return MLflowSqlSource(text)


def _cairn_target(destination: str | None) -> Target:
    from cairn.interchange.cairn_target import CairnTarget
    from cairn.store.uri import default_tracking_uri

    return CairnTarget(destination or default_tracking_uri())


def _transfer(make_source: Any, make_target: Any, artifacts: str, report_path: str | None) -> None:
    from cairn.interchange.copier import Copier

    try:
        source = make_source()
        try:
            target = make_target()
        except BaseException:
            source.close()
            raise
    except (CairnError, OSError) as error:
        raise click.ClickException(one_line(error)) from None
    try:
        with _Progress(source.run_count() if sys.stderr.isatty() else None) as progress:
            report = Copier(source, target, artifacts=artifacts, progress=progress).run()
    except (CairnError, OSError, ConnectionError) as error:
        raise click.ClickException(one_line(error)) from None
    finally:
        source.close()
        target.close()
    for problem in target.problems:  # what the target could only tell once closed
        report.problem(problem)
    _finish(report, report_path)


def _finish(report: FidelityReport, report_path: str | None) -> None:
    click.echo(report.table())
    click.echo(f"{report.seconds:.1f} s")
    if report_path:
        report.write(report_path)
    if not report.complete:
        sys.exit(INCOMPLETE)


class _Progress:
    """On a terminal: a bar of the runs done (when the source can count them), with the
    files copied beside it; nothing otherwise."""

    def __init__(self, total_runs: int | None) -> None:
        self.live = sys.stderr.isatty()
        self.files = 0
        self._bar: Any = None
        if self.live and total_runs:
            self._bar = click.progressbar(
                length=total_runs, label="runs", file=sys.stderr, item_show_func=self._files
            )
        self.runs = 0

    def _files(self, _item: object) -> str:
        return f"{self.files:,} files"

    def __enter__(self) -> _Progress:
        if self._bar is not None:
            self._bar.__enter__()
        return self

    def __call__(self, label: str, advance: int) -> None:
        if label == "files":
            self.files += advance
        else:
            self.runs += advance
        if self._bar is not None:
            self._bar.update(advance if label == "runs" else 0, "")
        elif self.live:
            click.echo(f"\r{self.runs:,} runs, {self.files:,} files", nl=False, err=True)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)
        elif self.live:
            click.echo("", err=True)
