"""How much waits in the client journals under a folder, for `cairn doctor`, read without
taking anything over.

A journal folder holds one segment file per process that logged to one tracking URI
(journal.py). A running process keeps its segment locked and delivers it itself; a segment
nobody locks was left by a process that stopped, and waits for the next process on that
URI (or `deliver`). What waits is every record after the last acknowledged one, and, in a
left segment, the runs it opened and never ended (each is ended KILLED when taken over).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from dataclasses import dataclass, replace

from cairn.maintenance.doctor import JournalBacklog
from cairn.tracking import journal
from cairn.tracking import journal_format as fmt

DELIVER_SECONDS = 30.0


@dataclass(frozen=True)
class _Segment:
    tracking_uri: str
    pid: int
    running: bool
    records: int
    points: int


def base_directory(tracking_uri: str, journal_dir: str | None = None) -> str:
    """The folder holding the journals of every tracking URI: `journal_dir`, else where the
    journal of `tracking_uri` is kept (CAIRN_JOURNAL_DIR, beside a SQLite file, or
    ./cairn-data/journal)."""
    if journal_dir:
        return os.path.abspath(journal_dir)
    return os.path.dirname(journal.directory_for(tracking_uri))


def backlogs(base: str) -> list[JournalBacklog]:
    """What waits, per journal folder under `base` that holds anything."""
    if not os.path.isdir(base):
        return []
    found = []
    for name in sorted(os.listdir(base)):
        folder = os.path.join(base, name)
        if os.path.isdir(folder):
            backlog = _folder_backlog(folder)
            if backlog is not None:
                found.append(backlog)
    return found


def deliver(backlog: JournalBacklog, timeout: float = DELIVER_SECONDS) -> JournalBacklog:
    """Deliver what stopped processes left in this journal to its tracking URI, as the next
    process on it would; the backlog afterwards, with `delivered` set. Only a folder where
    this process's journal for that URI lives can be delivered from (journal.directory_for);
    raises ConnectionError when the store does not take everything."""
    if journal.directory_for(backlog.tracking_uri) != os.path.abspath(backlog.directory):
        raise ConnectionError(
            f"{backlog.directory} is not where this process keeps the journal of "
            f"{backlog.tracking_uri} (set CAIRN_JOURNAL_DIR to its parent folder)"
        )
    taken = journal.deliver_orphans(backlog.tracking_uri, timeout)
    after = _folder_backlog(backlog.directory)
    if after is None:
        return replace(backlog, records=0, points=0, left_records=0, delivered=taken)
    return replace(after, delivered=taken)


def _folder_backlog(folder: str) -> JournalBacklog | None:
    segments = [
        segment
        for name in sorted(os.listdir(folder))
        if name.endswith(fmt.SUFFIX)
        and (segment := _segment(os.path.join(folder, name))) is not None
    ]
    if not segments:
        return None
    left = [s for s in segments if not s.running]
    return JournalBacklog(
        directory=folder,
        tracking_uri=segments[0].tracking_uri,
        records=sum(s.records for s in segments),
        points=sum(s.points for s in segments),
        running_pids=tuple(sorted({s.pid for s in segments if s.running})),
        left_records=sum(s.records for s in left),
    )


def _segment(path: str) -> _Segment | None:
    """A segment's undelivered records, or None when it holds none (or went meanwhile).

    This process's own segments are left unread: closing any descriptor of a file drops
    every lock the process holds on it, and its journal would look abandoned."""
    pid = _pid_of(path)
    if pid == os.getpid():
        return None
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None  # delivered and removed meanwhile
    try:
        running = _locked(fd)
        data = b"".join(iter(lambda: os.read(fd, 1 << 20), b""))
    finally:
        os.close(fd)
    return _count(data, pid, running)


def _locked(fd: int) -> bool:
    """Whether another process holds the segment's lock (a shared lock would conflict)."""
    try:
        fcntl.lockf(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return True
    with contextlib.suppress(OSError):
        fcntl.lockf(fd, fcntl.LOCK_UN)
    return False


def _pid_of(path: str) -> int:
    """`<time>-<pid>.journal` names the process that wrote the segment."""
    stem = os.path.basename(path)[: -len(fmt.SUFFIX)]
    _, _, pid = stem.rpartition("-")
    return int(pid) if pid.isdigit() else 0


def _count(data: bytes, pid: int, running: bool) -> _Segment | None:
    """Count as journal.Journal._take_over takes over: the records after the last
    acknowledgement, plus a KILLED end for each run a left segment opened and never ended."""
    uri = ""
    acknowledged = 0
    sent: list[tuple[int, int]] = []  # (seq, points)
    opened: set[str] = set()
    for _, _, record in fmt.records(data):
        op = record.get("op")
        if op == "segment":
            uri = str(record.get("uri", ""))
        elif op == "ack":
            acknowledged = max(acknowledged, int(record["seq"]))
        elif op == "open":
            opened.add(record["run"])
        elif op == "points":
            sent.append((int(record["seq"]), len(record["points"])))
        elif op == "call":
            sent.append((int(record["seq"]), len(record["args"].get("points") or ())))
            if record["name"] == "end":
                opened.discard(record["args"]["run_id"])
    waiting = [points for seq, points in sent if seq > acknowledged]
    records = len(waiting) + (0 if running else len(opened))
    if not records:
        return None
    return _Segment(uri, pid, running, records, sum(waiting))
