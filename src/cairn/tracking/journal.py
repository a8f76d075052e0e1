"""The durable journal under the fluent API: what was logged reaches the store, or waits on disk.

Every batch of metric points, and every run's end, is appended to this process's segment
file before it is sent, and acknowledged in the same file once the store has it. While the
store answers, delivery happens at once in the writer's thread, and a refusal (a deleted
run, a changed param) raises as it always did. When the store cannot be reached (a server
down, 5xx/429 past the retries, a database gone), the journal goes offline: run operations
are journaled too, every call returns at once, a warning says once what is waiting, and a
background thread delivers in order when the store is back. Each record carries an
idempotency key, so a record delivered twice (a crash between send and acknowledge) is
stored once.

A process killed with `kill -9` leaves its segment behind, no longer locked: the next
process on the same journal (or `cairn sync`) takes over what was not acknowledged and ends
the runs the dead process left open as KILLED, at the time of their last journaled point.

Without a file (CAIRN_DURABILITY=none, or a journal folder that cannot be written) the
journal works the same in memory: an unreachable store still never raises into the
training loop, but what waits is bounded (`MEMORY_POINTS`) and lost if the process dies,
and artifacts logged meanwhile wait in a temporary folder the warning names.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import logging
import os
import shutil
import tempfile
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cairn import env, wire
from cairn.entities import Param, RunStatus, RunTag
from cairn.store.base import MetricPoint
from cairn.store.retries import failing_fast
from cairn.tracking import journal_format as fmt
from cairn.tracking.faults import is_transient

if TYPE_CHECKING:
    from cairn.tracking.client import Client

SEGMENT_BYTES = 8 << 20  # a fully acknowledged segment past this size is replaced
RETRY_SECONDS = 1.0  # how often an offline journal tries the store again
KEEP_IN_MEMORY = 16  # pending records kept decoded; the rest are read back from the file
# Metric points kept in memory only (no journal file, or a disk that refused them) while the
# store is unreachable: about 150 MB. Past it, new batches are dropped, counted and reported.
MEMORY_POINTS = 1_000_000

_log = logging.getLogger("cairn.journal")


def directory_for(tracking_uri: str) -> str:
    """One folder per tracking URI, so that work is only ever delivered where it was meant:
    under CAIRN_JOURNAL_DIR, else beside a SQLite database, else in ./cairn-data/journal."""
    digest = hashlib.sha256(tracking_uri.encode()).hexdigest()[:16]
    base = env.journal_dir()
    if base is None:
        database = tracking_uri.partition(":///")[2] if tracking_uri.startswith("sqlite") else ""
        if database and database != ":memory:":
            base = os.path.join(os.path.dirname(os.path.abspath(database)), "journal")
        else:
            base = os.path.join(env.DEFAULT_DATA_DIR, "journal")
    return os.path.abspath(os.path.join(base, digest))


@dataclass(slots=True)
class Entry:
    """A record not yet acknowledged. `body` is None once it lives only in the file."""

    seq: int
    key: str
    op: str  # "points" or "call"
    offset: int  # of the payload in the segment; -1 when the disk refused it
    length: int
    body: Any
    points: int = 0  # metric points it carries, for saying how much waits
    adopted: bool = False  # a dead process's: its refusals are reported, not raised here


# -- what each kind of record does to the store ------------------------------------------------


def _create_run(client: Client, key: str | None, args: dict[str, Any]) -> Any:
    return client.create_run(
        args["experiment_id"],
        start_time=args["start_time"],
        tags=args["tags"],
        run_name=args["run_name"],
        run_id=args["run_id"],
    )


def _log_batch(client: Client, key: str | None, args: dict[str, Any]) -> None:
    client.log_batch(
        args["run_id"],
        params=[Param(k, v) for k, v in args.get("params", {}).items()],
        tags=[RunTag(k, v) for k, v in args.get("tags", {}).items()],
        idempotency_key=key,
    )


def _delete_tag(client: Client, key: str | None, args: dict[str, Any]) -> None:
    client.delete_tag(args["run_id"], args["key"])


def _end(client: Client, key: str | None, args: dict[str, Any]) -> None:
    points = args.get("points") or []
    client.set_terminated(
        args["run_id"],
        args["status"],
        args["end_time"],
        fmt.decode_points(points) if points and isinstance(points[0], list) else points,
        idempotency_key=key,
    )


def _kill(client: Client, key: str | None, args: dict[str, Any]) -> None:
    """End a dead process's run KILLED, unless something else ended it since."""
    if client.get_run(args["run_id"]).info.status == RunStatus.RUNNING.value:
        client.set_terminated(args["run_id"], RunStatus.KILLED.value, args["end_time"])


def _log_artifacts(client: Client, key: str | None, args: dict[str, Any]) -> None:
    """Upload files journaled while the store was away, then remove the journal's copy (a
    folder already gone was uploaded before a crash cut the acknowledgement)."""
    folder = args["folder"]
    if os.path.isdir(folder):
        client.log_artifacts(args["run_id"], folder, args["artifact_path"])
        _remove_spooled(folder)


def _log_table(client: Client, key: str | None, args: dict[str, Any]) -> None:
    """Append a table journaled while the store was away to the run's table of that name."""
    from cairn.tracking.artifact_formats import read_table
    from cairn.tracking.artifact_logging import TABLE_FILE

    folder = args["folder"]
    if os.path.isdir(folder):
        table = read_table(os.path.join(folder, TABLE_FILE))
        client.log_table(args["run_id"], table, args["artifact_path"])
        _remove_spooled(folder)


def _log_model(client: Client, key: str | None, args: dict[str, Any]) -> None:
    """Log a model saved while the store was away (MLflow 3's steps, as
    cairn.models.log_model takes them): a LoggedModel of the run, its id written into the
    saved MLmodel, the files uploaded, the model READY, and registered if it was asked."""
    import yaml

    from cairn.entities import LoggedModelOutput, LoggedModelStatus

    folder, run_id = args["folder"], args["run_id"]
    if not os.path.isdir(folder):
        return  # logged before a crash cut the acknowledgement
    experiment_id = client.get_run(run_id).info.experiment_id
    logged = client.create_logged_model(
        experiment_id, name=args["artifact_path"], source_run_id=run_id, model_type=args["flavor"]
    )
    client.log_outputs(run_id, [LoggedModelOutput(logged.model_id, 0)])
    mlmodel = os.path.join(folder, "MLmodel")
    with open(mlmodel, encoding="utf-8") as file:
        described = yaml.safe_load(file)
    described.update(model_id=logged.model_id, artifact_path=logged.artifact_uri)
    with open(mlmodel, "w", encoding="utf-8") as file:
        yaml.safe_dump(described, file, default_flow_style=False, sort_keys=False)
    client.log_model_artifacts(logged.model_id, folder)
    client.finalize_logged_model(logged.model_id, LoggedModelStatus.READY)
    if args.get("registered_model_name"):
        client.register_model(logged.model_uri, args["registered_model_name"])
    _remove_spooled(folder)


def _remove_spooled(folder: str) -> None:
    """Remove an uploaded folder, and the spool folder holding it once it is empty."""
    shutil.rmtree(folder, ignore_errors=True)
    with contextlib.suppress(OSError):
        os.rmdir(os.path.dirname(folder))


def _log_inputs(client: Client, key: str | None, args: dict[str, Any]) -> None:
    client.log_inputs(args["run_id"], wire.parse_dataset_inputs(args["datasets"]))


def _log_linked_metric(client: Client, key: str | None, args: dict[str, Any]) -> None:
    client.log_metric(
        args["run_id"],
        args["key"],
        args["value"],
        args["timestamp"],
        args["step"],
        dataset_name=args.get("dataset_name"),
        dataset_digest=args.get("dataset_digest"),
        model_id=args.get("model_id"),
    )


CALLS: dict[str, Callable[..., Any]] = {
    "log_inputs": _log_inputs,
    "log_linked_metric": _log_linked_metric,
    "log_artifacts": _log_artifacts,
    "log_table": _log_table,
    "log_model": _log_model,
    "create_run": _create_run,
    "log_batch": _log_batch,
    "delete_tag": _delete_tag,
    "end": _end,
    "kill": _kill,
}


class Journal:
    """This process's journal for one tracking URI."""

    def __init__(
        self, tracking_uri: str, client: Client, *, fsync: bool = False, on_disk: bool = True
    ) -> None:
        self.on_disk = on_disk  # False: kept in memory only (see the module's docstring)
        self.directory = directory_for(tracking_uri) if on_disk else ""
        self.tracking_uri = tracking_uri
        self.pending: deque[Entry] = deque()
        self.waiting_points = 0  # metric points in `pending`
        self.memory_points = 0  # of those, points that live in memory only
        self.dropped_points = 0  # points dropped past MEMORY_POINTS, not yet reported
        self.online = True
        self.error: BaseException | None = None  # a refusal met in the background
        self._client = client
        self._fsync = fsync
        self._lock = threading.Lock()  # the file, the sequence and `pending`
        self._drained = threading.Condition(self._lock)
        self._send_lock = threading.Lock()  # delivery, in order
        self._open_runs: dict[str, int] = {}  # run id -> its last journaled point's time
        self._seq = 0
        self._fd = -1
        self._shut = False  # closed: what waits stays where it is
        self._spool = ""  # where artifacts wait for the store
        self._size = 0
        self._name = ""
        self._disk_error: OSError | None = None
        self._warned_offline = False
        self._closed = False
        self._wake = threading.Event()
        self._deliverer: threading.Thread | None = None
        self._adopting = threading.Lock()  # file locks do not exclude threads of one process
        if not on_disk:
            return
        os.makedirs(self.directory, exist_ok=True)
        with self._lock:
            self._start_segment()
        if self.adopt_orphans():
            self._start_deliverer()

    # -- writing -----------------------------------------------------------------------------

    def write_points(self, points: list[MetricPoint]) -> None:
        """Journal a batch, then deliver it (and anything before it) if the store answers.
        Raises only a refusal of the store."""
        with self._lock:
            seq = self._seq = self._seq + 1
            key = self._key(seq)
            self._track(points)
            self._add(seq, key, "points", lambda: fmt.encode_points(seq, key, points), points)
        self._deliver_or_wake()

    def end(self, run_id: str, status: str, end_time: int, points: list[MetricPoint]) -> None:
        """Journal a run's end with its last points, then deliver it as `write_points` does."""
        with self._lock:
            self._open_runs.pop(run_id, None)
            self._journal_call(
                "end",
                {"run_id": run_id, "status": status, "end_time": end_time, "points": points},
            )
        self._deliver_or_wake()

    def call(self, name: str, **args: Any) -> tuple[bool, Any]:
        """Apply a run operation now when the store answers and nothing is waiting, else
        journal it; (True, its result) or (False, None) when journaled."""
        applied, result = self._now(lambda: CALLS[name](self._client, None, args))
        if not applied:
            with self._lock:
                self._journal_call(name, args)
            self._wake.set()
        return applied, result

    def artifacts(
        self,
        run_id: str,
        now: Callable[[], Any],
        fill: Callable[[str], str | None],
        call: str = "log_artifacts",
        **extra: Any,
    ) -> tuple[bool, Any]:
        """Log files now (`now()`) when the store answers and nothing is waiting; else
        `fill(folder)` writes them into a folder of the journal and returns the artifact
        path they go under, and `call` (with `extra` arguments) uploads them when the store
        is back. (True, what `now` returned), or (False, None) when they wait."""
        applied, result = self._now(now)
        if not applied:
            folder = self._spool_folder()
            args = {"run_id": run_id, "folder": folder, "artifact_path": fill(folder), **extra}
            with self._lock:
                self._journal_call(call, args)
            self._wake.set()
        return applied, result

    def _spool_folder(self) -> str:
        """A new folder for files that wait: in the journal's folder, or (without a journal
        file) in a temporary folder that outlives the process, named once in a warning."""
        base = self._spool
        if not base:
            base = self._spool = (
                os.path.join(self.directory, "spool")
                if self.on_disk
                else tempfile.mkdtemp(prefix="cairn-spool-")
            )
            if not self.on_disk:
                _log.warning(
                    "Cairn keeps the artifacts it cannot upload now in %s until the tracking "
                    "store is back.",
                    base,
                )
        folder = os.path.join(base, uuid.uuid4().hex)
        os.makedirs(folder)
        return folder

    def _now(self, attempt: Callable[[], Any]) -> tuple[bool, Any]:
        """Run `attempt` now, after what is in flight, unless the store is unreachable."""
        if self.online and self.pending:
            self._drain(raise_refusals=True)  # a batch the writer is sending goes first
        if self.online and not self.pending:
            try:
                with failing_fast():
                    return True, attempt()
            except Exception as error:
                if not is_transient(error):
                    raise
                self._go_offline(error)
        return False, None

    def opened(self, run_id: str, start_time: int) -> None:
        """Remember a run this process started, so that a crash ends it KILLED."""
        with self._lock:
            self._open_runs[run_id] = start_time
            if self.on_disk:
                with contextlib.suppress(OSError):
                    self._append(fmt.encode({"op": "open", "run": run_id, "ts": start_time}))

    def open_runs(self) -> list[str]:
        """The runs this process started and has not ended."""
        with self._lock:
            return list(self._open_runs)

    def _journal_call(self, name: str, args: dict[str, Any], key: str | None = None) -> None:
        seq = self._seq = self._seq + 1
        key = key or self._key(seq)
        record = {"op": "call", "seq": seq, "key": key, "name": name, "args": args}
        self._add(seq, key, "call", lambda: fmt.encode(_jsonable(record)), (name, args))

    def _add(
        self, seq: int, key: str, op: str, encode: Callable[[], bytes | list[bytes]], body: Any
    ) -> None:
        points = len(body) if op == "points" else len(body[1].get("points") or ())
        offset, length = -1, 0
        if self.on_disk:
            data = encode()
            try:
                offset = self._append(data)
            except OSError as error:
                self._disk_failed(error)
            size = len(data) if isinstance(data, bytes) else sum(map(len, data))
            length = size - fmt.HEADER.size
        if offset < 0:
            if op == "points" and self.pending and self.memory_points + points > MEMORY_POINTS:
                self._drop(points)
                return
            self.memory_points += points
        keep = offset < 0 or len(self.pending) < KEEP_IN_MEMORY
        self.pending.append(Entry(seq, key, op, offset, length, body if keep else None, points))
        self.waiting_points += points

    def _drop(self, points: int) -> None:
        """Drop a batch that memory has no room for, saying so once per outage."""
        if not self.dropped_points:
            _log.warning(
                "Cairn cannot reach %s and holds %d metric point(s) in memory, its limit: "
                "new points are dropped until it is back (flush() says how many).",
                self.tracking_uri,
                self.memory_points,
            )
        self.dropped_points += points

    def _track(self, points: list[MetricPoint]) -> None:
        runs = self._open_runs
        if runs:
            unseen = set(runs)
            for point in reversed(points):  # usually one run, found at the end
                if point[0] in unseen:
                    runs[point[0]] = point[3]
                    unseen.discard(point[0])
                    if not unseen:
                        break

    def _key(self, seq: int) -> str:
        return f"{self._name}.{seq}"

    # -- the segment file ----------------------------------------------------------------------

    def _start_segment(self) -> None:
        """A new segment, locked before it gets its name so no one takes it for an orphan."""
        name = f"{time.time_ns()}-{os.getpid()}"
        temporary = os.path.join(self.directory, f".{name}.tmp")
        fd = os.open(temporary, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.replace(temporary, os.path.join(self.directory, name + fmt.SUFFIX))
        old_fd, old_name = self._fd, self._name
        self._fd, self._name, self._size = fd, name, 0
        self._append(fmt.encode({"op": "segment", "uri": self.tracking_uri, "pid": os.getpid()}))
        for run_id, ts in self._open_runs.items():
            self._append(fmt.encode({"op": "open", "run": run_id, "ts": ts}))
        if self._fsync:
            _fsync_directory(self.directory)
        if old_fd >= 0:
            with contextlib.suppress(OSError):
                os.unlink(self._path(old_name))
            os.close(old_fd)

    def _path(self, name: str | None = None) -> str:
        return os.path.join(self.directory, (name or self._name) + fmt.SUFFIX)

    def _append(self, data: bytes | list[bytes]) -> int:
        """Append whole records; the payload offset of the first. On failure the file is cut
        back, so a half-written record never stays in it."""
        parts = [data] if isinstance(data, bytes) else data
        start = self._size
        total = sum(len(part) for part in parts)
        try:
            written = os.writev(self._fd, parts)
            if written < total:  # rare: finish what a short write left
                rest = memoryview(b"".join(parts))[written:]
                while rest:
                    rest = rest[os.write(self._fd, rest) :]
            if self._fsync:
                os.fsync(self._fd)
        except OSError:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, start)
            raise
        self._size = start + total
        return start + fmt.HEADER.size

    def _disk_failed(self, error: OSError) -> None:
        """Say once (a nearly full disk fails large batches and takes small records, so
        it would flap) that a crash could now lose what is buffered."""
        if self._disk_error is None:
            _log.warning(
                "Cairn cannot write its journal at %s (%s). Logging goes on, and what is "
                "buffered is kept in memory, but a crash now would lose it.",
                self.directory,
                error.strerror or error,
            )
        self._disk_error = error

    def _body(self, entry: Entry) -> Any:
        if entry.body is not None:
            return entry.body
        record = fmt.read_at(self._fd, entry.offset, entry.length)
        if entry.op == "points":
            return fmt.decode_points(record["points"])
        return record["name"], record["args"]

    # -- delivering --------------------------------------------------------------------------

    def _deliver_or_wake(self) -> None:
        if self.online:
            self._drain(raise_refusals=True)
        else:
            self._wake.set()

    def _drain(self, *, raise_refusals: bool) -> bool:
        """Deliver pending records in order; False when the store cannot be reached."""
        with self._send_lock:
            delivered = 0
            try:
                while True:
                    with self._lock:
                        if not self.pending:
                            self.online = True
                            self._drained.notify_all()
                            break
                        if self._shut:
                            return False  # closed: what waits stays in the segment file
                        entry = self.pending[0]
                        body = self._body(entry)
                    try:
                        self._apply(entry, body)
                    except Exception as error:
                        if is_transient(error):
                            self._go_offline(error)
                            return False
                        with self._lock:
                            self._pop()
                        delivered = entry.seq
                        if raise_refusals and not entry.adopted:
                            raise
                        self._refused(error, entry.adopted)
                        continue
                    with self._lock:
                        self._pop()
                    delivered = entry.seq
            finally:
                if delivered:
                    self._acknowledge(delivered)
        return True

    def _pop(self) -> None:
        entry = self.pending.popleft()
        self.waiting_points -= entry.points
        if entry.offset < 0:
            self.memory_points -= entry.points

    def _apply(self, entry: Entry, body: Any) -> None:
        with failing_fast():  # the journal is the retry: notice an outage at once
            if entry.op == "points":
                self._client.log_metric_points(body, idempotency_key=entry.key)
            else:
                name, args = body
                CALLS[name](self._client, entry.key, args)

    def _acknowledge(self, seq: int) -> None:
        if not self.on_disk:
            return
        with self._lock:
            try:
                self._append(fmt.encode({"op": "ack", "seq": seq}))
                if not self.pending and self._size > SEGMENT_BYTES:
                    self._start_segment()
            except OSError:
                pass  # an acknowledgement lost costs a repeat, which the store ignores

    def _go_offline(self, error: BaseException) -> None:
        with self._lock:
            self.online = False
            waiting = len(self.pending), self.waiting_points
            warn = not self._warned_offline
            self._warned_offline = True
        if warn:
            _log.warning(
                "Cairn cannot reach the tracking store %s (%s). Training goes on: %d "
                "record(s) with %d metric point(s) wait in the journal %s and are sent when "
                "it is back.",
                self.tracking_uri,
                error,
                *waiting,
                self.directory,
            )
        self._start_deliverer()

    def _refused(self, error: BaseException, adopted: bool) -> None:
        """Log a refusal met in the background; this process's own is raised at `flush`."""
        _log.warning("The tracking store refused journaled work: %s", error)
        if not adopted:
            self.error = error

    def _start_deliverer(self) -> None:
        with self._lock:
            if self._deliverer is None and not self._closed:
                self._deliverer = threading.Thread(
                    target=self._deliver_in_background, name="cairn-journal", daemon=True
                )
                self._deliverer.start()

    def _deliver_in_background(self) -> None:
        while not self._closed:
            if self.pending:
                was_offline = not self.online
                if self._drain(raise_refusals=False) and was_offline:
                    _log.warning(
                        "Cairn reached %s again; the journal is delivered.", self.tracking_uri
                    )
                    with self._lock:
                        self._warned_offline = False
            self._wake.wait(RETRY_SECONDS)
            self._wake.clear()

    # -- what dead processes left --------------------------------------------------------------

    def _orphans(self) -> list[str]:
        own = self._name + fmt.SUFFIX
        pid = f"-{os.getpid()}{fmt.SUFFIX}"
        return sorted(
            name
            for name in os.listdir(self.directory)
            if name.endswith(fmt.SUFFIX) and name != own and not name.endswith(pid)
        )

    def adopt_orphans(self) -> int:
        """Take over the segments of processes that died: their unacknowledged records go
        into this journal, with their keys, followed by ending their open runs KILLED.
        Returns how many records were taken over."""
        with self._adopting:
            taken = sum(self._adopt(name) for name in self._orphans())
        if taken:
            self._wake.set()
        return taken

    def _adopt(self, name: str) -> int:
        path = os.path.join(self.directory, name)
        try:
            fd = os.open(path, os.O_RDWR)
        except FileNotFoundError:
            return 0  # another process took it
        try:
            try:
                fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                return 0  # its process is alive
            with open(path, "rb") as file:
                data = file.read()
            taken = self._take_over(data, int(os.fstat(fd).st_mtime * 1000))
            os.unlink(path)
            return taken
        finally:
            os.close(fd)

    def _take_over(self, data: bytes, modified_ms: int) -> int:
        acknowledged = 0
        unsent: list[dict[str, Any]] = []
        open_runs: dict[str, int | None] = {}
        for _, _, record in fmt.records(data):
            op = record.get("op")
            if op == "ack":
                acknowledged = max(acknowledged, record["seq"])
            elif op == "open":
                open_runs[record["run"]] = None
            elif op == "points":
                unsent.append(record)
                for run_id, _, _, ts, _ in record["points"]:
                    if run_id in open_runs:
                        open_runs[run_id] = max(ts, open_runs[run_id] or 0)
            elif op == "call":
                unsent.append(record)
                if record["name"] == "end":
                    open_runs.pop(record["args"]["run_id"], None)
        unsent = [record for record in unsent if record["seq"] > acknowledged]
        with self._lock:
            first = len(self.pending)
            for record in unsent:
                seq = self._seq = self._seq + 1
                if record["op"] == "points":
                    points = fmt.decode_points(record["points"])
                    self._add(
                        seq,
                        record["key"],
                        "points",
                        functools.partial(fmt.encode_points, seq, record["key"], points),
                        points,
                    )
                else:
                    self._journal_call(record["name"], record["args"], record["key"])
            for run_id, last in open_runs.items():
                self._journal_call("kill", {"run_id": run_id, "end_time": last or modified_ms})
            for index in range(first, len(self.pending)):
                self.pending[index].adopted = True
        return len(unsent) + len(open_runs)

    # -- flushing and closing ------------------------------------------------------------------

    def flush(self, timeout: float | None = None) -> bool:
        """Whether everything journaled reached the store: delivers now if the store
        answers; offline, waits up to `timeout` seconds for the store to come back. Raises a
        refusal met in the background. False too when points were dropped for want of
        memory since the last flush (a warning says how many)."""
        if self.pending and self.online:
            self._drain(raise_refusals=True)
        if self.pending and timeout:
            self._wake.set()
            deadline = time.monotonic() + timeout
            with self._lock:
                while self.pending and (left := deadline - time.monotonic()) > 0:
                    self._drained.wait(left)
        error, self.error = self.error, None
        if error is not None:
            raise error
        with self._lock:
            dropped, self.dropped_points = self.dropped_points, 0
        if dropped:
            _log.warning(
                "%d metric point(s) were dropped while %s could not be reached (more than "
                "%d waited in memory).",
                dropped,
                self.tracking_uri,
                MEMORY_POINTS,
            )
        return not self.pending and not dropped

    def close(self, timeout: float | None = None) -> None:
        """Deliver what waits (giving an unreachable store `timeout` seconds, by default
        CAIRN_JOURNAL_EXIT_SECONDS), then remove the segment, or leave it for the next
        process and say so."""
        if timeout is None:
            timeout = env.journal_exit_seconds()
        self.flush(timeout if self.pending else None)
        with self._lock:
            self._closed = True
        self._wake.set()
        if self.pending and self.on_disk:
            _log.warning(
                "Cairn could not reach %s: %d record(s) with %d metric point(s) stay in the "
                "journal %s; the next process on this tracking URI, or `cairn sync`, "
                "delivers them.",
                self.tracking_uri,
                len(self.pending),
                self.waiting_points,
                self.directory,
            )
        elif self.pending:
            _log.warning(
                "Cairn could not reach %s: %d record(s) with %d metric point(s) held in "
                "memory are lost (CAIRN_DURABILITY=journal keeps them on disk).",
                self.tracking_uri,
                len(self.pending),
                self.waiting_points,
            )
        if self._send_lock.acquire(timeout=1.0):
            try:
                with self._lock:
                    self._shut = True
                    if not self.on_disk:
                        return
                    if not self.pending:
                        with contextlib.suppress(OSError):
                            os.unlink(self._path())
                    os.close(self._fd)  # releases the lock: what is left is an orphan now
                    self._fd = -1
            finally:
                self._send_lock.release()


def _jsonable(record: dict[str, Any]) -> dict[str, Any]:
    """A call record with the points in its arguments spelled for JSON."""
    points = record["args"].get("points")
    if not points:
        return record
    return {**record, "args": {**record["args"], "points": fmt.jsonable_points(points)}}


def _fsync_directory(directory: str) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def deliver_orphans(tracking_uri: str, timeout: float) -> int:
    """Deliver what stopped processes left in the journal of `tracking_uri` (for `cairn
    sync`), waiting up to `timeout` seconds for the store; how many records were taken
    over. Raises ConnectionError when the store did not take them all: they stay
    journaled for the next try."""
    directory = directory_for(tracking_uri)
    if not os.path.isdir(directory) or not any(
        name.endswith(fmt.SUFFIX) for name in os.listdir(directory)
    ):
        return 0
    from cairn.tracking.client import Client

    journal = Journal(tracking_uri, Client(tracking_uri))
    taken = len(journal.pending)
    try:
        delivered = journal.flush(timeout)
    finally:
        journal.close(timeout=0)
    if not delivered:
        raise ConnectionError(
            f"{len(journal.pending)} journaled record(s) wait for {tracking_uri}, which does "
            "not answer; they stay in the journal for the next try."
        )
    return taken
