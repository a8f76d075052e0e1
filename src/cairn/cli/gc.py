"""`cairn gc`: remove deleted runs and experiments for good, rows and files.

On a database URI the collection runs here (cairn.maintenance.gc); on an http(s) URI the
server does it, in passes, since only it reaches the files behind its artifact proxy.
Like MLflow's gc it does not ask before deleting, except at a terminal without --yes:
there it first shows what would go (a dry run) and asks.
"""

from __future__ import annotations

import dataclasses
import functools
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from cairn.entities.gc import GcReport, GcRequest
from cairn.exceptions import CairnError

if TYPE_CHECKING:  # loaded when the command runs: `cairn --help` stays fast
    from cairn.store.base import TrackingStore
    from cairn.store.rest.tracking import RestTrackingStore
    from cairn.store.sql.tracking import SqlTrackingStore

_HTTP = ("http://", "https://")


def parse_duration(text: str | None) -> int | None:
    """`30d`, `12h`, `90m`, `45s` or combined (`1d12h`) as milliseconds; `0` or None: None
    (everything deleted, whenever)."""
    from cairn.durations import duration_ms

    if text is None or text.strip() == "0":
        return None
    try:
        return duration_ms(text) or None
    except CairnError:
        raise click.BadParameter(
            f"{text!r}: expected a duration such as 30d, 12h, 90m, 45s or 1d12h, or 0.",
            param_hint="--older-than",
        ) from None


def human_bytes(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


@click.command()
@click.option(
    "--older-than",
    default=None,
    metavar="DURATION",
    help="Only what was deleted at least this long ago: 30d, 12h, 90m, 45s, or combined "
    "(1d12h). Default 0: everything deleted.",
)
@click.option(
    "--experiment",
    "experiments",
    multiple=True,
    metavar="NAME|ID",
    help="Only this experiment: a deleted one goes whole, an active one only its deleted "
    "runs. Repeatable.",
)
@click.option("--run", "run_ids", multiple=True, metavar="RUN_ID", help="Only this deleted run.")
@click.option("--dry-run", is_flag=True, help="Delete nothing; list what would go.")
@click.option(
    "--apply-retention",
    is_flag=True,
    help="First delete the runs that experiments' retention tags (cairn.retention.days, "
    "cairn.retention.keep_last) no longer keep; with --older-than they wait that long.",
)
@click.option(
    "--tracking-uri",
    default=None,
    help="The store: a database URI or http(s)://server (default: CAIRN_TRACKING_URI, else "
    "./cairn-data/).",
)
@click.option(
    "--artifacts-destination",
    default=None,
    help="Where the store's mlflow-artifacts:/ locations lie (the server's "
    "--artifacts-destination: a folder or s3://bucket/prefix). Without it such files stay.",
)
@click.option("--yes", "-y", is_flag=True, help="Do not ask before deleting.")
def gc(
    older_than: str | None,
    experiments: tuple[str, ...],
    run_ids: tuple[str, ...],
    dry_run: bool,
    apply_retention: bool,
    tracking_uri: str | None,
    artifacts_destination: str | None,
    yes: bool,
) -> None:
    """Remove deleted runs and experiments for good: their rows, metric histories, logged
    models, traces and artifact files. What a registered model version points to stays."""
    from cairn.store.uri import default_tracking_uri, require_existing, tracking_store

    uri = tracking_uri or default_tracking_uri()
    older_ms = parse_duration(older_than)
    if uri.startswith(_HTTP) and artifacts_destination is not None:
        raise click.UsageError(
            "--artifacts-destination is for a database URI: a server knows its own."
        )
    try:
        require_existing(uri, "collect")
        store = tracking_store(uri)
    except CairnError as error:
        raise click.ClickException(_one_line(error)) from None
    bar = _Bar(dry_run)
    try:
        collect = _collector(store, artifacts_destination)
        request = GcRequest(
            older_than_ms=older_ms,
            experiment_ids=tuple(_experiment_id(store, e) for e in experiments),
            run_ids=tuple(run_ids),
            dry_run=dry_run,
            apply_retention=apply_retention,
        )
        if not dry_run and not yes and sys.stdin.isatty():
            preview = collect(dataclasses.replace(request, dry_run=True), None)
            click.echo(describe(preview))
            if not (preview.runs or preview.experiments or preview.logged_models):
                return
            click.confirm("Remove these for good?", abort=True)
        report = collect(request, bar)
    except CairnError as error:
        raise click.ClickException(_one_line(error)) from None
    finally:
        bar.close()
        store.close()
    click.echo(describe(report))


Progress = Callable[[int, int, int], None]
"""(runs done, runs in all or 0 when unknown, bytes freed so far)."""
Collector = Callable[[GcRequest, "Progress | None"], GcReport]


def _collector(store: TrackingStore, destination: str | None) -> Collector:
    """How to collect: here on a database, through the server (which alone reaches the
    files behind its artifact proxy) on http(s)."""
    from cairn.store.rest.tracking import RestTrackingStore
    from cairn.store.sql.tracking import SqlTrackingStore

    if isinstance(store, RestTrackingStore):
        return functools.partial(_remote, store)
    if isinstance(store, SqlTrackingStore):
        return functools.partial(_local, store, destination)
    raise click.UsageError("This tracking URI is neither a database nor a server.")


def _local(
    store: SqlTrackingStore, destination: str | None, request: GcRequest, tell: Progress | None
) -> GcReport:
    from cairn.maintenance.gc import GcProgress, collect_garbage

    def progress(p: GcProgress) -> None:
        if tell is not None:
            tell(p.runs_done, p.runs_total, p.bytes)

    return collect_garbage(store, request, artifacts_destination=destination, progress=progress)


def _remote(store: RestTrackingStore, request: GcRequest, tell: Progress | None) -> GcReport:
    # Helper module of the REST store, loaded only here: a database gc does not need it.
    from cairn.store.rest.maintenance import collect_remotely

    runs = freed = 0

    def on_batch(batch: GcReport) -> None:
        nonlocal runs, freed
        runs, freed = runs + len(batch.runs), freed + batch.bytes
        if tell is not None:
            tell(runs, 0, freed)

    return collect_remotely(store, request, on_batch=on_batch)


def _experiment_id(store: TrackingStore, value: str) -> str:
    """A name (of a deleted experiment too) or an id, as an id."""
    found = store.get_experiment_by_name(value)
    if found is not None:
        return found.experiment_id
    if value.isdigit():
        return store.get_experiment(value).experiment_id
    raise click.ClickException(f"No experiment named {value!r}.")


class _Bar:
    """Progress on stderr: a bar at a terminal, opened once the first figures come; a line
    per batch elsewhere (a log, cron), so a reader can tell how far it got."""

    def __init__(self, dry_run: bool) -> None:
        self._bar: Any = None
        self._done = 0
        self._lines = not sys.stderr.isatty()
        self._verb, self._freed = ("Measured", "to free") if dry_run else ("Collected", "freed")
        self._label = "Measuring runs" if dry_run else "Collecting runs"

    def __call__(self, done: int, total: int, freed: int) -> None:
        if self._bar is None and not total:
            self._lines = True  # passes through a server: no total to draw a bar against
        if self._lines:
            if done:
                of = f" of {total:,}" if total else ""
                size = human_bytes(freed)
                click.echo(f"{self._verb} {done:,}{of} runs, {size} {self._freed}", err=True)
            return
        if self._bar is None:
            self._bar = click.progressbar(
                length=total,
                label=self._label,
                file=sys.stderr,
                show_pos=True,
                item_show_func=lambda text: None if text is None else f"{text} {self._freed}",
            )
            self._bar.__enter__()
        self._bar.update(done - self._done, human_bytes(freed))
        self._done = done

    def close(self) -> None:
        if self._bar is not None:
            self._bar.render_finish()
            self._bar = None


def describe(report: GcReport) -> str:
    """The summary `cairn gc` prints: what went (or would), what stays and why."""
    verb = "Would remove" if report.dry_run else "Removed for good"
    lines = [
        f"{verb}: {_count(report.runs, 'run')}, {_count(report.experiments, 'experiment')}, "
        f"{_count(report.logged_models, 'logged model')}, {report.traces:,} trace(s), "
        f"{report.metric_points:,} metric point(s), {report.files:,} file(s) "
        f"({human_bytes(report.bytes)}, {report.bytes:,} bytes)."
    ]
    if report.dry_run:
        lines += [f"  run {i}" for i in report.runs]
        lines += [f"  experiment {i}" for i in report.experiments]
        lines += [f"  logged model {i}" for i in report.logged_models]
    if report.retention_deleted:
        said = "would delete" if report.dry_run else "deleted"
        lines.append(f"Retention policies {said} {_count(report.retention_deleted, 'run')}:")
        lines += [f"  run {i}" for i in report.retention_deleted]
    if report.kept:
        lines.append(f"Kept ({len(report.kept)}):")
        lines += [f"  {k.kind.replace('_', ' ')} {k.id}: {k.reason}" for k in report.kept]
    if not report.done:
        lines.append("Not done: more is left to collect; run `cairn gc` again.")
    return "\n".join(lines)


def _count(items: list[str], what: str) -> str:
    return f"{len(items):,} {what}{'' if len(items) == 1 else 's'}"


def _one_line(error: CairnError) -> str:
    return " ".join(error.message.split())
