"""`cairn relay --to URL`: a local server for unchanged MLflow code that acknowledges from
local disk and forwards everything to a central server, which may come and go.

It is `cairn server`'s app over a local store (a SQLite file and an artifact folder), plus
a thread that syncs that store to the central server about every second (`cairn sync
--follow`). Reads are answered from the local store: what this relay received.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING

import click

from cairn.cli.asgi import run_app
from cairn.cli.server import build_app
from cairn.cli.sync import one_line

if TYPE_CHECKING:  # loaded when the command runs: `cairn --help` stays fast
    from cairn.tracking.sync import Sync
    from cairn.tracking.sync_summary import SyncSummary

DEFAULT_FOLDER = "cairn-relay"
FORWARD_INTERVAL_SECONDS = 1.0


class Forwarder:
    """The background sync: one thread, stopped by an Event; says once when the central
    server goes away and once when it is back."""

    def __init__(self, syncer: Sync, interval: float) -> None:
        self.syncer = syncer
        self.interval = interval
        self.stop = threading.Event()
        self._down = False
        self._thread = threading.Thread(target=self._run, name="cairn-relay-forward", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self, timeout: float = 10.0) -> None:
        self.stop.set()
        self._thread.join(timeout)
        self.syncer.close()

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                self.syncer.follow(self.stop, self.interval, self._sent, self._failed)
            except Exception as error:  # never let the thread die: log, pause, go on
                click.echo(f"relay: forwarding stopped by {one_line(error)}; restarting", err=True)
                self.stop.wait(self.interval)

    def _sent(self, summary: SyncSummary) -> None:
        if self._down:
            click.echo(f"relay: {self.syncer.destination_uri} is reachable again", err=True)
            self._down = False
        if summary.requests:
            click.echo(f"relay: forwarded {summary.describe()}", err=True)
        for failure in summary.failures:
            click.echo(f"relay: not forwarded: {failure}", err=True)

    def _failed(self, error: Exception) -> None:
        if not self._down:
            click.echo(
                f"relay: cannot forward to {self.syncer.destination_uri} ({one_line(error)}); "
                "still accepting, will forward when it is back",
                err=True,
            )
            self._down = True


@click.command()
@click.option("--to", "destination", required=True, help="The central server: http(s)://host:port.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=5001, show_default=True, type=int, help="Port to listen on.")
@click.option(
    "--data",
    "folder",
    default=DEFAULT_FOLDER,
    show_default=True,
    help="Folder for the local store (cairn.db) and its artifacts.",
)
def relay(destination: str, host: str, port: int, folder: str) -> None:
    """Serve MLflow's REST API on a local store and forward everything to a central server:
    point MLFLOW_TRACKING_URI at the relay and training goes on while the server is away."""
    folder = os.path.abspath(folder)
    artifacts = os.path.join(folder, "artifacts")
    os.makedirs(artifacts, exist_ok=True)
    store_uri = f"sqlite:///{os.path.join(folder, 'cairn.db')}"
    from cairn.tracking.sync import Sync

    app = build_app(store_uri, artifacts)  # creates and migrates the store first
    try:
        syncer = Sync(destination, store_uri, proxied_artifacts=artifacts)
    except Exception as error:
        raise click.ClickException(one_line(error)) from None
    forwarder = Forwarder(syncer, FORWARD_INTERVAL_SECONDS)
    click.echo(f"Relay listening on http://{host}:{port}")
    click.echo(f"Keeping data in {folder}")
    click.echo(f"Forwarding to {destination}")
    forwarder.start()
    try:
        run_app(app, host, port)
    finally:
        forwarder.close()
