"""`cairn sync --to URI`: upload runs logged to a local store (offline) to a server, with
their ids, histories and artifacts, sending only what the server lacks."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import click

from cairn.exceptions import CairnError

if TYPE_CHECKING:  # loaded when the command runs: `cairn --help` stays fast
    from cairn.tracking.sync import Sync
    from cairn.tracking.sync_summary import SyncSummary


def one_line(error: BaseException) -> str:
    """An error as one line, for a message that is not a traceback."""
    text = error.message if isinstance(error, CairnError) else str(error) or type(error).__name__
    return " ".join(text.split())


@click.command()
@click.option(
    "--to", "destination", required=True, help="Where runs go: http(s)://server or a store URI."
)
@click.option(
    "--from",
    "source",
    default=None,
    help="Where runs come from (default: CAIRN_TRACKING_URI, else ./cairn-data/).",
)
@click.option(
    "--experiment", "experiments", multiple=True, help="Only this experiment (by name); repeatable."
)
@click.option("--follow", is_flag=True, help="Keep syncing what is new until interrupted.")
@click.option(
    "--interval",
    default=5.0,
    show_default=True,
    type=float,
    help="Seconds between syncs with --follow.",
)
@click.argument("run_ids", nargs=-1)
def sync(
    destination: str,
    source: str | None,
    experiments: tuple[str, ...],
    follow: bool,
    interval: float,
    run_ids: tuple[str, ...],
) -> None:
    """Copy runs (all, those of --experiment, or RUN_IDS) to another tracking server or store,
    keeping their ids. A second sync sends nothing; a run still running gets only what is new."""
    from cairn.store.uri import default_tracking_uri
    from cairn.tracking.sync import Sync

    try:
        journaled = _deliver_journals(source or default_tracking_uri(), destination)
        syncer = Sync(destination, source, experiments=experiments, run_ids=run_ids)
    except ConnectionError as error:
        raise click.ClickException(f"Cannot reach {destination}: {one_line(error)}") from None
    except (CairnError, OSError) as error:
        if journaled:  # a server-only user: the journal was all there was to send
            click.echo(f"Nothing else to sync: {one_line(error)}")
            return
        raise click.ClickException(one_line(error)) from None
    try:
        summary = _sync_with_progress(syncer)
        click.echo(summary.describe())
        if follow:
            _follow(syncer, interval)
    except ConnectionError as error:
        raise click.ClickException(f"Cannot reach {destination}: {one_line(error)}") from None
    except (CairnError, OSError) as error:
        raise click.ClickException(one_line(error)) from None
    finally:
        syncer.close()
    if summary.failures:
        for failure in summary.failures:
            click.echo(failure, err=True)
        raise click.ClickException(f"{len(summary.failures)} run(s) could not be synced.")


def _deliver_journals(source: str, destination: str) -> int:
    """First what stopped training processes left in their journals: into the source
    store, and (logged while the server was down) to the destination."""
    from cairn.tracking.journal import deliver_orphans

    delivered = 0
    for uri in (source, destination):
        taken = deliver_orphans(uri, timeout=30.0)
        if taken:
            click.echo(
                f"Delivered {taken} journaled record(s) that stopped processes left for {uri}."
            )
        delivered += taken
    return delivered


def _sync_with_progress(syncer: Sync) -> SyncSummary:
    from cairn.tracking.sync_summary import SyncSummary

    runs = syncer.select_runs()
    summary = SyncSummary()
    with click.progressbar(runs, label=f"Syncing {len(runs)} runs") as bar:
        for run in bar:
            summary.add(syncer.sync_run(run))
    return summary


def _follow(syncer: Sync, interval: float) -> None:
    """Sync again every `interval` seconds, printing what each pass sent, until Ctrl-C."""
    stop = threading.Event()
    down = False

    def report(summary: SyncSummary) -> None:
        nonlocal down
        if down:
            click.echo("Destination reachable again.", err=True)
            down = False
        if summary.requests or summary.failures:
            click.echo(summary.describe())
        for failure in summary.failures:
            click.echo(failure, err=True)

    def complain(error: Exception) -> None:
        nonlocal down
        if not down:
            click.echo(f"Cannot sync now ({one_line(error)}); trying again.", err=True)
            down = True

    try:
        stop.wait(interval)
        syncer.follow(stop, interval, on_pass=report, on_error=complain)
    except KeyboardInterrupt:
        stop.set()
