"""The durable journal on the embedded store: its file format, and what the next process
does with a segment that a dead process left at each step of a batch."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

import cairn
from cairn.tracking import journal as journal_module
from cairn.tracking import journal_format as fmt
from cairn.tracking import session
from cairn.tracking.client import Client
from cairn.tracking.journal import Journal

DEAD = "1700000000000000000-2147480000"  # a segment name no live process here has


def test_points_keep_nan_and_infinities_through_the_file() -> None:
    run = "a" * 32
    points = [
        (run, "loss", 0.5, 1, 0),
        (run, "loss", math.nan, 2, 1),
        (run, "loss", math.inf, 3, 2),
        (run, "loss", -math.inf, 4, 3),
    ]
    [(_, _, record)] = list(fmt.records(b"".join(fmt.encode_points(7, "k.7", points))))
    assert (record["op"], record["seq"], record["key"]) == ("points", 7, "k.7")
    decoded = fmt.decode_points(record["points"])
    assert decoded[0] == points[0]
    assert math.isnan(decoded[1][2])
    assert decoded[2][2] == math.inf and decoded[3][2] == -math.inf


def test_a_reader_stops_at_a_torn_or_corrupt_record() -> None:
    first, second = fmt.encode({"op": "a"}), fmt.encode({"op": "b"})
    data = first + second
    for cut in range(len(data) + 1):
        whole = [r["op"] for _, _, r in fmt.records(data[:cut])]
        assert whole == ["a", "b"][: (cut >= len(first)) + (cut == len(data))]
    corrupt = bytearray(data)
    corrupt[-1] ^= 0xFF
    assert [r["op"] for _, _, r in fmt.records(bytes(corrupt))] == ["a"]


@pytest.fixture
def uri(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'cairn.db'}"


def _dead_segment(uri: str, *records: bytes) -> Path:
    directory = Path(journal_module.directory_for(uri))
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{DEAD}{fmt.SUFFIX}"
    path.write_bytes(
        fmt.encode({"op": "segment", "uri": uri, "pid": 2147480000}) + b"".join(records)
    )
    return path


@pytest.mark.parametrize("died_after", ["written", "sent", "acknowledged"])
def test_a_batch_is_stored_once_whichever_step_its_process_died_after(
    uri: str, died_after: str
) -> None:
    client = Client(uri)
    run = client.create_run(client.create_experiment("journal"), start_time=1_000)
    run_id = run.info.run_id
    points = [(run_id, "loss", float(i), 2_000 + i, i) for i in range(100)]
    points.append((run_id, "loss", math.nan, 2_100, 100))
    key = f"{DEAD}.1"
    records = [
        fmt.encode({"op": "open", "run": run_id, "ts": 1_000}),
        b"".join(fmt.encode_points(1, key, points)),
    ]
    if died_after in ("sent", "acknowledged"):
        client.log_metric_points(points, idempotency_key=key)
    if died_after == "acknowledged":
        records.append(fmt.encode({"op": "ack", "seq": 1}))
    segment = _dead_segment(uri, *records)

    journal = Journal(uri, client)
    journal.adopt_orphans()
    assert journal.flush(timeout=30)
    journal.close()

    history = client.get_metric_history(run_id, "loss")
    assert len(history) == 101
    assert math.isnan(history[-1].value)
    ended = client.get_run(run_id).info
    assert (ended.status, ended.end_time) == ("KILLED", 2_100)  # its last point's time
    assert not segment.exists()
    assert not list(segment.parent.glob(f"*{fmt.SUFFIX}"))


def test_a_run_its_dead_process_had_ended_is_not_marked_killed(uri: str) -> None:
    client = Client(uri)
    run_id = client.create_run(client.create_experiment("ended")).info.run_id
    end = {"run_id": run_id, "status": "FINISHED", "end_time": 5_000, "points": []}
    _dead_segment(
        uri,
        fmt.encode({"op": "open", "run": run_id, "ts": 1_000}),
        fmt.encode({"op": "call", "seq": 1, "key": f"{DEAD}.1", "name": "end", "args": end}),
    )
    journal = Journal(uri, client)
    journal.adopt_orphans()
    assert journal.flush(timeout=30)
    journal.close()
    assert (client.get_run(run_id).info.status, client.get_run(run_id).info.end_time) == (
        "FINISHED",
        5_000,
    )


def test_a_segment_whose_process_is_alive_is_left_alone(uri: str) -> None:
    owner_script = (
        "import sys\n"
        "from cairn.tracking.client import Client\n"
        "from cairn.tracking.journal import Journal\n"
        f"journal = Journal({uri!r}, Client({uri!r}))\n"
        "print('ready', flush=True)\n"
        "sys.stdin.read()\n"
        "journal.close()\n"
    )
    owner = subprocess.Popen(
        [sys.executable, "-c", owner_script], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        assert owner.stdout is not None and owner.stdout.readline() == b"ready\n"
        [segment] = Path(journal_module.directory_for(uri)).glob(f"*{fmt.SUFFIX}")
        other = Journal(uri, Client(uri))
        assert other.adopt_orphans() == 0
        assert segment.exists()
        other.close()
    finally:
        owner.communicate(b"", timeout=60)
    assert owner.returncode == 0
    assert not segment.exists()  # its owner removed it when it closed


def test_the_readme_flow_leaves_no_journal_behind(workdir: Path) -> None:
    with cairn.start_run() as run:
        for step in range(1_000):
            cairn.log_metric("loss", 1 / (step + 1), step=step)
        cairn.log_param("lr", 0.1)
    session.reset()
    journal_dir = workdir / "cairn-data" / "journal"
    assert journal_dir.is_dir()  # the journal lives under the data folder
    assert not list(journal_dir.rglob(f"*{fmt.SUFFIX}"))
    stored = Client().get_run(run.info.run_id)
    assert stored.data.params == {"lr": "0.1"} and stored.info.status == "FINISHED"
    assert len(Client().get_metric_history(run.info.run_id, "loss")) == 1_000


def test_durability_none_writes_no_journal(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAIRN_DURABILITY", "none")
    with cairn.start_run():
        cairn.log_metric("loss", 0.5)
    session.reset()
    assert not (workdir / "cairn-data" / "journal").exists()


def test_fsync_durability_stores_the_same(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAIRN_DURABILITY", "fsync")
    with cairn.start_run() as run:
        for step in range(100):
            cairn.log_metric("loss", float(step), step=step)
    session.reset()
    assert len(Client().get_metric_history(run.info.run_id, "loss")) == 100
    assert os.listdir(workdir / "cairn-data" / "journal")  # the per-URI folder stays


def test_offline_mode_logs_to_the_local_store_whatever_the_uri(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CAIRN_TRACKING_URI", "http://127.0.0.1:9/never-reached")
    monkeypatch.setenv("CAIRN_MODE", "offline")
    with cairn.start_run() as run:
        cairn.log_metric("loss", 0.25)
        cairn.log_param("mode", "offline")
    assert cairn.get_tracking_uri() == f"sqlite:///{workdir / 'cairn-data' / 'cairn.db'}"
    session.reset()
    local = Client(f"sqlite:///{workdir / 'cairn-data' / 'cairn.db'}")
    assert local.get_run(run.info.run_id).data.params == {"mode": "offline"}


def test_a_journal_folder_that_cannot_be_written_warns_and_logging_goes_on(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    blocked = workdir / "not-a-folder"
    blocked.write_text("a file where the journal's folder would go")
    monkeypatch.setenv("CAIRN_JOURNAL_DIR", str(blocked))
    with cairn.start_run() as run:
        for step in range(100):
            cairn.log_metric("loss", float(step), step=step)
        cairn.log_param("lr", 0.1)
    session.reset()
    said = [r.getMessage() for r in caplog.records if "cannot start its journal" in r.getMessage()]
    assert len(said) == 1
    stored = Client().get_run(run.info.run_id)
    assert stored.data.params == {"lr": "0.1"} and stored.info.status == "FINISHED"
    assert len(Client().get_metric_history(run.info.run_id, "loss")) == 100


def test_without_a_journal_file_what_waits_is_bounded_and_the_rest_reported(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}"
    monkeypatch.setattr(journal_module, "MEMORY_POINTS", 10)
    journal = Journal(url, Client(url), on_disk=False)
    run = "a" * 32
    for batch in range(3):
        journal.write_points([(run, "loss", 0.5, batch, step) for step in range(5)])  # no raise
    assert (journal.online, journal.waiting_points) == (False, 10)
    assert journal.flush() is False
    said = [r.getMessage() for r in caplog.records if "dropped" in r.getMessage()]
    assert len(said) == 2 and said[1].startswith("5 metric point(s) were dropped")
    journal.close(timeout=0)
    assert not (workdir / "cairn-data").exists()  # nothing on disk
