"""Storage figures from a `cairn server` (`GET /api/2.0/cairn/storage`, cairn.server.
storage_api), for `cairn storage` pointed at a server. The server keeps the figures of what
is logged through it; under `--auth` each experiment asked about needs READ."""

from __future__ import annotations

from collections.abc import Sequence

from cairn.entities.storage import ExperimentStorage
from cairn.store.rest.tracking import RestTrackingStore
from cairn.wire.storage import experiments_from_json

API = "/api/2.0/cairn"
EXPERIMENTS_PER_CALL = 1000
"""The server's limit of experiments per call."""


def experiment_storage(
    store: RestTrackingStore, experiment_ids: Sequence[str]
) -> dict[str, ExperimentStorage]:
    found: dict[str, ExperimentStorage] = {}
    ids = list(dict.fromkeys(experiment_ids))
    for start in range(0, len(ids), EXPERIMENTS_PER_CALL):
        chunk = ids[start : start + EXPERIMENTS_PER_CALL]
        # The store's own session: its credentials, TLS settings and connection pool.
        answer = store.http.call("GET", API + "/storage", {"experiment_ids": ",".join(chunk)})
        found.update(experiments_from_json(answer))
    return found
