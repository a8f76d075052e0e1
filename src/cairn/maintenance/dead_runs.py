"""Ending runs whose process is gone: KILLED, at the time of their last logged point.

A fluent run's process sends a heartbeat (cairn.tracking.heartbeat); the run is dead when
its owner on this host no longer exists, or when its heartbeat is older than the timeout
(`CAIRN_HEARTBEAT_TIMEOUT`, and never less than three of the owner's own intervals).
Runs without a heartbeat tag (older clients, the stock mlflow client) are left alone: only
`cairn doctor --stuck-after` ends those. `cairn server` and `cairn ui` sweep periodically
(`Sweeper`), and `cairn doctor --fix` once, through the same `end_dead_runs`.
"""

from __future__ import annotations

import logging
import threading
import time

from sqlalchemy import Engine

from cairn import env
from cairn.maintenance.run_owner import HEARTBEAT_TAG, OWNER_TAG, parse_owner
from cairn.store.sql import health
from cairn.store.sql.health import StuckRun, WatchedRun

_log = logging.getLogger("cairn.dead_runs")


def dead_runs(engine: Engine, now_ms: int | None = None) -> list[StuckRun]:
    """The RUNNING runs whose process is gone, each with the time it is ended at: its
    last point, else its last heartbeat."""
    now = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    timeout_ms = env.heartbeat_timeout_seconds() * 1000
    found = []
    for run in health.watched_runs(engine, HEARTBEAT_TAG, OWNER_TAG):
        beat = _ms(run.heartbeat)
        if beat is not None and _is_dead(run, beat, now, timeout_ms):
            end = run.last_point if run.last_point is not None else beat
            found.append(StuckRun(run.run_id, run.experiment_id, run.start_time, end))
    return found


def _is_dead(run: WatchedRun, beat: int, now: int, timeout_ms: float) -> bool:
    owner = parse_owner(run.owner)
    gone = owner.is_gone() if owner is not None else None
    if gone is not None:
        return gone  # seen on this host: the pid answers, whatever the heartbeat says
    every_ms = owner.every * 1000 if owner is not None else 0.0
    return now - beat > max(timeout_ms, 3 * every_ms)


def _ms(raw: str) -> int | None:
    try:
        return int(raw)
    except ValueError:
        return None


def end_dead_runs(engine: Engine, now_ms: int | None = None) -> int:
    """Mark every dead run KILLED (unless it ended meanwhile); how many were."""
    dead = dead_runs(engine, now_ms)
    return health.kill_runs(engine, dead) if dead else 0


class Sweeper:
    """A daemon thread that ends dead runs of one store every `interval` seconds (by
    default a fifth of the heartbeat timeout, between 1 s and a minute)."""

    def __init__(self, uri: str, interval: float | None = None) -> None:
        timeout = env.heartbeat_timeout_seconds()
        self.interval = interval if interval is not None else min(60.0, max(1.0, timeout / 5))
        self._uri = uri
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cairn-dead-runs", daemon=True)

    def start(self) -> Sweeper:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        engine = None
        while not self._stop.wait(self.interval):
            try:
                if engine is None:
                    engine = health.open_engine(self._uri)
                killed = end_dead_runs(engine)
                if killed:
                    _log.warning("Marked %d run(s) KILLED: their process is gone.", killed)
            except Exception as error:  # a database away for a while: try again next time
                _log.warning("Cannot look for runs whose process is gone: %s", error)
        if engine is not None:
            engine.dispose()
