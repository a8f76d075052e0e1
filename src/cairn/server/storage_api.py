"""Storage figures for the experiments page and `cairn storage`.

* `GET /ajax-api/2.0/cairn/storage?experiment_ids=1,2[&run_ids=a,b]`: per experiment its
  runs (deleted ones included until `cairn gc`), logged models, metric points and
  artifact bytes and files; per listed run (at most MAX_RUNS) its own figures, for runs of
  the listed experiments only. Sums of rows kept as things are written: nothing is walked
  or counted per request. With `--auth` each listed experiment needs READ, which covers
  the runs answered (cairn.wire.storage has the JSON).

The artifact proxy keeps the artifact figures of what it stores (cairn.server.proxy_usage).
"""

from __future__ import annotations

from typing import Any

from cairn import wire
from cairn.exceptions import InvalidParameterValueError, NotImplementedByServerError
from cairn.server.access import READ, Access, Source
from cairn.server.context import Context
from cairn.server.messages import Message
from cairn.server.routes import Endpoint
from cairn.server.ui_api import experiment_ids_of
from cairn.store.base import StorageAccounting, TrackingStore
from cairn.wire.storage import storage_to_json

MAX_RUNS = 1000


def storage(ctx: Context, msg: Message) -> dict[str, Any]:
    experiment_ids = experiment_ids_of(msg)
    if not experiment_ids:
        raise InvalidParameterValueError("Missing value for required parameter 'experiment_ids'.")
    store = _accounting(ctx.tracking)
    experiments = store.experiment_storage(experiment_ids)
    listed = set(experiment_ids)
    run_ids = _run_ids(msg)
    runs = store.run_storage(run_ids) if run_ids else {}
    return storage_to_json(
        experiments, {r: s for r, s in runs.items() if s.experiment_id in listed}
    )


def _run_ids(msg: Message) -> list[str]:
    given = wire.parse_strings("run_ids", msg.repeated("run_ids"))
    run_ids = list(dict.fromkeys(r.strip() for v in given for r in v.split(",") if r.strip()))
    if len(run_ids) > MAX_RUNS:
        raise InvalidParameterValueError(
            f"At most {MAX_RUNS} runs per call; {len(run_ids)} were given."
        )
    return run_ids


def _accounting(tracking: TrackingStore) -> StorageAccounting:
    if not isinstance(tracking, StorageAccounting):
        raise NotImplementedByServerError("This server's store keeps no storage figures.")
    return tracking


ENDPOINTS = [
    Endpoint("GET", "/storage", storage, access=Access(READ, Source.COUNTED_EXPERIMENTS)),
]
