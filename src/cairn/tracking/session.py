"""The fluent API's state, in one object: the process's `FluentSession`.

Everything `cairn.log_metric` and its kin remember between calls lives here: the tracking
URI and its Client (over a cache of stores), the metric batcher, the active experiment,
the last run, each thread's run stack, the background worker and the shared source
capture. `set_tracking_uri`, a reset and a fork replace the session whole, so no piece can
be forgotten: the old one is closed (its buffer drained, its worker stopped), and in a
forked child it is dropped without touching the connections the parent still uses.

This module is the one place that holds the process's tracking state.
"""

from __future__ import annotations

import atexit
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from types import FrameType
from typing import TYPE_CHECKING

from cairn import env
from cairn.store.uri import StoreCache, default_tracking_uri, local_tracking_uri

if TYPE_CHECKING:
    from cairn.tracking.batcher import MetricBatcher
    from cairn.tracking.client import Client
    from cairn.tracking.fluent import ActiveRun
    from cairn.tracking.heartbeat import Heartbeat
    from cairn.tracking.journal import Journal
    from cairn.tracking.shared_capture import SharedCapture


class RunStack(threading.local):
    """Each thread's started and not yet ended runs (`ActiveRun`s), innermost last."""

    def __init__(self) -> None:
        self.runs: list[ActiveRun] = []
        self.run_id: str | None = None  # the innermost run's id, kept for the hot path


class FluentSession:
    """The fluent API's state for one tracking URI in one process."""

    def __init__(self, tracking_uri: str | None = None, stores: StoreCache | None = None) -> None:
        self.explicit_uri = tracking_uri  # None: CAIRN_TRACKING_URI or ./cairn-data
        self.stores = stores if stores is not None else StoreCache()
        self.experiment_id: str | None = None
        self.last_run_id: str | None = None
        self.local = RunStack()
        self.checked_keys: set[str] = set()  # metric keys already validated
        self.batcher: MetricBatcher | None = None
        self._journal: Journal | None = None
        self._heartbeat: Heartbeat | None = None
        self._client: Client | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._capture: SharedCapture | None = None
        self._lock = threading.RLock()

    @property
    def tracking_uri(self) -> str:
        if env.offline():  # CAIRN_MODE=offline: everything to the local store, for `cairn sync`
            return local_tracking_uri()
        return self.explicit_uri or default_tracking_uri()

    def client(self) -> Client:
        client = self._client
        if client is None:
            with self._lock:
                if self._client is None:
                    from cairn.tracking.client import Client

                    self._client = Client(self.tracking_uri, stores=self.stores)
                client = self._client
        return client

    def metric_batcher(self) -> MetricBatcher:
        with self._lock:
            if self.batcher is None:
                from cairn.tracking.batcher import MetricBatcher

                write = self.journal().write_points
                self.batcher = MetricBatcher(write, env.async_metric_flush_seconds())
            return self.batcher

    def journal(self) -> Journal:
        """The journal every batch and run write passes through: on disk, or in memory with
        CAIRN_DURABILITY=none or when its folder cannot be written (then with a warning:
        an unreachable server still never stops training, but a crash loses what waits)."""
        journal = self._journal
        if journal is None:
            with self._lock:
                if self._journal is None:
                    self._journal = self._new_journal()
                journal = self._journal
        return journal

    def _new_journal(self) -> Journal:
        from cairn.tracking.journal import Journal

        durability = env.durability()
        if durability != "none":
            try:
                return Journal(self.tracking_uri, self.client(), fsync=durability == "fsync")
            except OSError as error:
                logging.getLogger("cairn.journal").warning(
                    "Cairn cannot start its journal (%s); logging goes on with what waits "
                    "kept in memory, so a crash can lose it.",
                    error,
                )
        return Journal(self.tracking_uri, self.client(), on_disk=False)

    def start_heartbeat(self) -> None:
        """Send the heartbeat of this process's open runs from now on (once per session)."""
        with self._lock:
            if self._heartbeat is None:
                from cairn.tracking.heartbeat import Heartbeat

                self._heartbeat = Heartbeat(self.journal(), self.client(), env.heartbeat_seconds())

    @property
    def started_journal(self) -> Journal | None:
        """The journal if this session has started one."""
        return self._journal

    def background(self) -> ThreadPoolExecutor:
        """One worker thread for the bookkeeping a run does beside the user's code."""
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cairn-run")
            return self._executor

    def shared_capture(self) -> SharedCapture:
        """The source capture for a run starting now: the recent one, or a new one."""
        from cairn.tracking.shared_capture import SharedCapture

        with self._lock:
            if self._capture is None or not self._capture.fresh:
                self._capture = SharedCapture()
            return self._capture

    def successor(self, tracking_uri: str | None) -> FluentSession:
        """A session for another tracking URI that keeps this one's runs, experiment and
        stores (a Client made earlier goes on working)."""
        successor = FluentSession(tracking_uri, self.stores)
        successor.experiment_id = self.experiment_id
        successor.last_run_id = self.last_run_id
        successor.local = self.local
        successor.checked_keys = self.checked_keys
        successor._capture = self._capture
        return successor

    def forked(self) -> FluentSession:
        """This session as a forked child starts it: the same URI and experiment, with no
        runs (they are the parent's to end) and stores of its own."""
        child = FluentSession(self.explicit_uri)
        child.experiment_id = self.experiment_id
        return child

    def close_writers(self) -> None:
        """Store every buffered point: the batcher's, then what waits in the journal
        (raising a write error); what an unreachable store could not take stays journaled."""
        if self._heartbeat is not None:
            self._heartbeat.stop()
        try:
            if self.batcher is not None:
                self.batcher.close()
        finally:
            if self._journal is not None:
                self._journal.close()

    def close(self) -> None:
        """The writers, then the background worker."""
        try:
            self.close_writers()
        finally:
            if self._executor is not None:
                self._executor.shutdown(wait=True)


class Process:
    """What this process holds: its session (None until first use) and how its exit hooks
    stand. The fluent hot path reads `process.session` directly."""

    def __init__(self) -> None:
        self.session: FluentSession | None = None
        self.hooks_pid: int | None = None  # the process that installed the exit hooks
        self.atexit_installed = False
        self.forked = False  # a forked child of a process that imported cairn
        # Sessions a forked child inherited: referenced, never closed, so that the parent's
        # connections are not shut from here.
        self.inherited: list[FluentSession] = []


process = Process()
_lock = threading.Lock()


def current() -> FluentSession:
    """The process's session, started on first use."""
    session = process.session
    if session is None:
        with _lock:
            if process.session is None:
                process.session = FluentSession()
            session = process.session
    return session


def switch(tracking_uri: str) -> None:
    """Send everything after this call to `tracking_uri` (buffered points go where they were
    meant to go first)."""
    with _lock:
        old = process.session
        process.session = (
            old.successor(tracking_uri) if old is not None else FluentSession(tracking_uri)
        )
    if old is not None:
        old.close()


def reset() -> None:
    """Close the session and its stores: the next call starts as a fresh process would."""
    with _lock:
        old, process.session = process.session, None
    if old is not None:
        try:
            old.close()
        finally:
            old.stores.close()


def install_exit_hooks(end_all_runs: Callable[[str], None]) -> None:
    """Call `end_all_runs(status)` when the process exits: at interpreter exit (FINISHED),
    on SIGTERM (KILLED), and in a forked multiprocessing worker, which leaves with
    `os._exit`, when the worker's finalizers run. Installed once per process."""
    pid = os.getpid()
    if process.hooks_pid == pid:
        return
    process.hooks_pid = pid
    multiprocessing_util = sys.modules.get("multiprocessing.util")
    if process.forked and multiprocessing_util is not None:
        multiprocessing_util.Finalize(None, end_all_runs, ("FINISHED",), exitpriority=100)
    if process.atexit_installed:  # a forked child: atexit and SIGTERM handlers came along
        return
    process.atexit_installed = True
    atexit.register(end_all_runs, "FINISHED")
    if threading.current_thread() is threading.main_thread():
        previous = signal.getsignal(signal.SIGTERM)

        def on_sigterm(signum: int, frame: FrameType | None) -> None:
            end_all_runs("KILLED")
            if callable(previous):
                previous(signum, frame)
            else:
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                os.kill(os.getpid(), signal.SIGTERM)

        signal.signal(signal.SIGTERM, on_sigterm)


def _after_fork_in_child() -> None:
    global _lock
    _lock = threading.Lock()  # another thread of the parent may have held it at the fork
    process.forked = True
    inherited = process.session
    if inherited is not None:
        process.inherited.append(inherited)
        process.session = inherited.forked()


os.register_at_fork(after_in_child=_after_fork_in_child)
