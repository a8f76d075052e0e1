"""What `cairn sync` already sent, per (source, destination) pair: one JSON file, replaced
atomically after each run, so an interrupted sync resumes where it stopped.

The file is a cache, never the truth: everything sync sends is idempotent on the destination
(a run created again with its id is a no-op, exact repeats of a metric point are stored once,
params keep their value, tags are upserted), so a lost or stale file only costs re-sending.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from dataclasses import asdict, dataclass, field
from typing import Any

from cairn.store.uri import scheme_of

STATE_VERSION = 1
STATE_FOLDER = "sync"  # beside a SQLite source's database
WORKING_DIR_FOLDER = ".cairn-sync"  # for any other source


@dataclass
class MetricProgress:
    """What was sent of one metric's history: how many distinct points, the newest
    timestamp, and the points at that timestamp (`[repr(value), step]`), so a point logged
    later in the same millisecond is still told apart from those already sent."""

    count: int = 0
    max_timestamp: int | None = None
    frontier: list[list[Any]] = field(default_factory=list)


@dataclass
class RunProgress:
    """What the destination holds of one source run, as far as this sync knows."""

    destination_run_id: str
    destination_artifact_uri: str
    status: str = "RUNNING"
    end_time: int | None = None
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, MetricProgress] = field(default_factory=dict)
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    artifacts: dict[str, int] = field(default_factory=dict)
    models: dict[str, str] = field(default_factory=dict)  # source model id -> destination's
    fingerprint: str = ""

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> RunProgress:
        metrics = {k: MetricProgress(**v) for k, v in raw.pop("metrics", {}).items()}
        return cls(**raw, metrics=metrics)


class SyncState:
    """The runs already sent from `source` to `destination`, kept in `path`."""

    def __init__(self, path: str, source: str, destination: str) -> None:
        self.path = path
        self.source = source
        self.destination = destination
        self.runs: dict[str, RunProgress] = {}

    @classmethod
    def load(cls, path: str, source: str, destination: str) -> SyncState:
        """The state in `path`; a missing, unreadable or foreign file starts afresh (it only
        costs re-sending)."""
        state = cls(path, source, destination)
        try:
            with open(path, encoding="utf-8") as handle:
                raw = json.load(handle)
            if raw.get("version") == STATE_VERSION and raw.get("destination") == destination:
                state.runs = {k: RunProgress.from_json(v) for k, v in raw["runs"].items()}
        except (OSError, ValueError, TypeError, KeyError):
            state.runs = {}
        return state

    def save(self) -> None:
        """Write the file whole to a temporary sibling, then rename it over the old one: a
        reader (or a crash) sees the old state or the new one, never half of one."""
        folder = os.path.dirname(self.path)
        os.makedirs(folder, exist_ok=True)
        document = {
            "version": STATE_VERSION,
            "source": self.source,
            "destination": self.destination,
            "runs": {k: asdict(v) for k, v in self.runs.items()},
        }
        handle, temporary = tempfile.mkstemp(prefix=".sync-", suffix=".tmp", dir=folder)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                json.dump(document, out, separators=(",", ":"))
            os.replace(temporary, self.path)
        except BaseException:
            if os.path.exists(temporary):
                os.remove(temporary)
            raise


def default_state_path(source: str, destination: str) -> str:
    """`sync/<destination>-<hash>.json` beside a SQLite source's database, else under
    ./.cairn-sync/ of the working directory."""
    pair = hashlib.sha256(f"{source}\n{destination}".encode()).hexdigest()[:12]
    readable = re.sub(r"[^A-Za-z0-9]+", "_", destination.split("://", 1)[-1]).strip("_")[:60]
    name = f"{readable or 'destination'}-{pair}.json"
    if scheme_of(source) == "sqlite":
        database = source.partition(":///")[2]
        if database and database != ":memory:":
            folder = os.path.dirname(os.path.abspath(database))
            return os.path.join(folder, STATE_FOLDER, name)
    return os.path.abspath(os.path.join(WORKING_DIR_FOLDER, name))
