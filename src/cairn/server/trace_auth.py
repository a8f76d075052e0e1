"""Permission checks of the trace calls under `cairn server --auth`.

A trace has no permissions of its own: it belongs to its experiment, so reading one needs
READ there and annotating or deleting one EDIT. A batch read needs READ on every listed
trace's experiment, a search on every experiment it names; linking traces to a run needs
EDIT on the run's experiment and on each trace's. StartTrace needs EDIT on the experiment
it names and, when the trace exists already (its spans came first), on the trace's own.
The OTLP ingest is checked apart, by its header (cairn.server.auth).
"""

from __future__ import annotations

from collections.abc import Callable

from cairn.exceptions import NotImplementedByServerError, ResourceDoesNotExistError
from cairn.server import traces_api
from cairn.server.access import Source
from cairn.server.auth_store import User
from cairn.server.messages import Message
from cairn.store.base import TrackingStore
from cairn.store.traces import TraceStore

TRACE_SOURCES = frozenset(
    {
        Source.TRACE,
        Source.TRACE_IDS,
        Source.NEW_TRACE,
        Source.TRACE_LOCATIONS,
        Source.RUN_AND_TRACES,
    }
)

#: Raises PermissionDeniedError unless the user holds the permission on the experiment.
Require = Callable[[User, str, str], None]


class TraceGuard:
    """The checks of TRACE_SOURCES (blocking: called off the event loop)."""

    def __init__(
        self, traces: TraceStore | None, tracking: TrackingStore, require: Require
    ) -> None:
        self.traces = traces
        self.tracking = tracking
        self.require = require

    def check(self, user: User, source: Source, permission: str, message: Message) -> None:
        if source is Source.TRACE_LOCATIONS:
            for experiment_id in traces_api.searched_experiment_ids(message):
                self.require(user, experiment_id, permission)
            return
        if source is Source.NEW_TRACE:
            info = traces_api.new_trace_of(message)
            self.require(user, info.experiment_id, permission)
            trace_ids = [info.trace_id]
        elif source is Source.TRACE:
            trace_ids = [traces_api.trace_id_of(message)]
        elif source is Source.RUN_AND_TRACES:
            run = self.tracking.get_run(message.run_id())
            self.require(user, run.info.experiment_id, permission)
            trace_ids = traces_api.trace_ids_of(message)
        else:  # Source.TRACE_IDS
            trace_ids = traces_api.trace_ids_of(message)
        owners = self._store().trace_experiment_ids(trace_ids)
        if source is Source.TRACE and not owners:
            raise ResourceDoesNotExistError(f"Trace with ID '{trace_ids[0]}' not found.")
        for experiment_id in sorted(set(owners.values())):
            self.require(user, experiment_id, permission)

    def _store(self) -> TraceStore:
        if self.traces is None:
            raise NotImplementedByServerError("This server keeps no traces.")
        return self.traces
