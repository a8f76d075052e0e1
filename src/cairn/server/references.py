"""The ids a call names besides its source (cairn.server.access.Reference), found as the
handler will read them, and checked against the caller's permission on their experiment.

Each reference is read with the same parser the handler uses, so the middleware checks
exactly the ids the handler will act on. An id the handler itself looks up (a metric's or
an output's model, a new model's source run) must exist: an unknown one is 404
RESOURCE_DOES_NOT_EXIST, as the handler would answer. An id the handler only stores (a
parent-run tag, a trace's run metadata) points to nothing when it is unknown, so there is
nothing to protect and it is let through, as without `--auth`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from cairn import wire
from cairn.entities.trace import SOURCE_RUN_METADATA
from cairn.exceptions import InvalidParameterValueError, ResourceDoesNotExistError
from cairn.server import traces_api
from cairn.server.access import Reference, Refers
from cairn.server.auth_store import User
from cairn.server.messages import Message
from cairn.store.base import TrackingStore
from cairn.wire import traces as trace_codec

PARENT_RUN_TAG = "mlflow.parentRunId"

#: Raises PermissionDeniedError unless the user holds the permission on the experiment.
Require = Callable[[User, str, str], None]


def batch_metric_models(message: Message) -> list[str]:
    """The logged models a log-batch's metrics write into."""
    return list(wire.parse_model_metrics(message.repeated("metrics"), message.run_id()))


def metric_model(message: Message) -> list[str]:
    """The logged model a log-metric's point writes into, if it names one."""
    return list(wire.parse_model_metrics([message.fields], message.run_id(), name="metric"))


def output_models(message: Message) -> list[str]:
    return [o.model_id for o in wire.parse_model_outputs(message.repeated("models"), "models")]


def source_run(message: Message) -> list[str]:
    run_id = message.string("source_run_id")
    return [run_id] if run_id else []


def parent_runs(message: Message) -> list[str]:
    """`mlflow.parentRunId` among `tags` (runs/create, log-batch) or as set-tag's key."""
    found = [t.value for t in wire.parse_run_tags(message.repeated("tags")) if _parent(t.key)]
    if _parent(message.get("key")):
        found.append(message.string("value") or "")
    return [run_id for run_id in found if run_id]


def trace_runs(message: Message) -> list[str]:
    """The run a trace's metadata links it to: v3's `trace.trace_info.trace_metadata`,
    v2's `request_metadata` (StartTrace and EndTrace); both, when a call sends both."""
    metadata = trace_codec.parse_v2_pairs("request_metadata", message.get("request_metadata"))
    found = [metadata.get(SOURCE_RUN_METADATA)]
    if message.get("trace") is not None:
        found.append(traces_api.new_trace_of(message).trace_metadata.get(SOURCE_RUN_METADATA))
    return [run_id for run_id in found if run_id]


def _parent(key: object) -> bool:
    return key == PARENT_RUN_TAG


_IDS: dict[Reference, Callable[[Message], list[str]]] = {
    Reference.BATCH_METRIC_MODELS: batch_metric_models,
    Reference.METRIC_MODEL: metric_model,
    Reference.OUTPUT_MODELS: output_models,
    Reference.SOURCE_RUN: source_run,
    Reference.PARENT_RUN: parent_runs,
    Reference.TRACE_RUN: trace_runs,
}
_MODELS = frozenset(
    {Reference.BATCH_METRIC_MODELS, Reference.METRIC_MODEL, Reference.OUTPUT_MODELS}
)
# The handler looks these up itself (404 when unknown); the others it only stores.
_MUST_EXIST = _MODELS | {Reference.SOURCE_RUN}


def ids_of(reference: Reference, message: Message) -> list[str]:
    """The ids `reference` finds in the call, each once, in order."""
    return list(dict.fromkeys(_IDS[reference](message)))


class ReferenceGuard:
    """Checks the references an endpoint declares (blocking: called off the event loop)."""

    def __init__(self, tracking: TrackingStore, require: Require) -> None:
        self.tracking = tracking
        self.require = require

    def check(self, user: User, refers: Sequence[Refers], message: Message) -> None:
        for declared in refers:
            for found in ids_of(declared.reference, message):
                experiment_id = self._experiment_of(declared.reference, found)
                if experiment_id is not None:
                    self.require(user, experiment_id, declared.permission)

    def _experiment_of(self, reference: Reference, found: str) -> str | None:
        """The experiment `found` belongs to; None for an unknown id the handler only stores."""
        try:
            if reference in _MODELS:
                return self.tracking.get_logged_model(found).experiment_id
            return self.tracking.get_run(found).info.experiment_id
        except (ResourceDoesNotExistError, InvalidParameterValueError):
            if reference in _MUST_EXIST:
                raise
            return None
