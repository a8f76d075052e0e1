"""Which process owns a RUNNING run, and whether it is still alive.

A fluent run carries two tags: `cairn.owner`, set once at the start (the host, the pid,
the process's start time and pid namespace, and how often it sends a heartbeat), and
`cairn.heartbeat`, the time in ms of its owner's last sign of life, refreshed every few
seconds. A reader on the same host and in the same pid namespace (not another container)
learns at once that the pid is gone (or now names another process, started later);
elsewhere, a heartbeat older than the timeout says the same. A run without these
tags (an older client, the stock mlflow client) is never judged by them.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass

OWNER_TAG = "cairn.owner"
HEARTBEAT_TAG = "cairn.heartbeat"


@dataclass(frozen=True)
class Owner:
    host: str
    pid: int
    started: int | None  # the process's start, in clock ticks since boot (Linux); None elsewhere
    every: float  # seconds between its heartbeats
    namespace: int | None = None  # its pid namespace (Linux), so containers are told apart

    def tag(self) -> str:
        return json.dumps(
            {
                "host": self.host,
                "pid": self.pid,
                "started": self.started,
                "every": self.every,
                "ns": self.namespace,
            },
            separators=(",", ":"),
        )

    def is_gone(self) -> bool | None:
        """True when this process has certainly ended; None when that cannot be seen from
        here (another host)."""
        if self.host != socket.gethostname() or self.namespace != pid_namespace():
            return None
        if self.pid == os.getpid():
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            pass  # alive, someone else's
        return self.started is not None and process_start(self.pid) not in (None, self.started)


def this_process(every: float) -> Owner:
    pid = os.getpid()
    return Owner(socket.gethostname(), pid, process_start(pid), every, pid_namespace())


def parse_owner(raw: str | None) -> Owner | None:
    """The owner a `cairn.owner` tag names; None for a missing or unreadable tag."""
    if not raw:
        return None
    try:
        data = json.loads(raw)
        started, namespace = data.get("started"), data.get("ns")
        return Owner(
            str(data["host"]),
            int(data["pid"]),
            None if started is None else int(started),
            float(data["every"]),
            None if namespace is None else int(namespace),
        )
    except (ValueError, TypeError, KeyError, AttributeError):
        return None


def pid_namespace() -> int | None:
    """This process's pid namespace (the inode of /proc/self/ns/pid); None where there is
    no such file."""
    try:
        return os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return None


def process_start(pid: int) -> int | None:
    """When the process started, in clock ticks since boot (field 22 of /proc/<pid>/stat):
    with the pid, it tells a process from a later one given the same pid. None where
    /proc cannot tell."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            fields = stat.read().rpartition(b")")[2].split()
        return int(fields[19])
    except (OSError, ValueError, IndexError):
        return None
