"""The heartbeat of a process with active fluent runs: one small write every few seconds.

Every `CAIRN_HEARTBEAT_SECONDS` the runs this process started and has not ended get their
`cairn.heartbeat` tag set to the time now, so that a run whose process is killed with
`kill -9` (and never comes back to end it) can be told from one still training, and ended
KILLED by the store's sweep (cairn.maintenance.dead_runs). A beat is skipped while the
journal has work waiting or the store cannot be reached: it is a sign of life, not data,
and must never delay what was logged or reach the store before the run itself.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

from cairn.entities import RunTag
from cairn.maintenance.run_owner import HEARTBEAT_TAG
from cairn.store.retries import failing_fast

if TYPE_CHECKING:
    from cairn.tracking.client import Client
    from cairn.tracking.journal import Journal

_log = logging.getLogger("cairn.heartbeat")


class Heartbeat:
    def __init__(self, journal: Journal, client: Client, interval: float) -> None:
        self._journal = journal
        self._client = client
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cairn-heartbeat", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.beat()

    def beat(self) -> None:
        """Tell the store that this process's open runs are alive, if it answers now."""
        journal = self._journal
        if not journal.online or journal.pending:
            return
        tag = [RunTag(HEARTBEAT_TAG, str(time.time_ns() // 1_000_000))]
        for run_id in journal.open_runs():
            try:
                with failing_fast():
                    self._client.log_batch(run_id, tags=tag)
            except Exception as error:  # the next beat tries again; the journal reports outages
                _log.debug("No heartbeat for run %s: %s", run_id, error)
