"""`TensorBoardSource` over event files written by the tensorboard package itself (its
record writer, its Event/Summary protos, its hparams and plugin metadata helpers), copied
into a real SQLite Cairn store and read back through `Client`."""

from __future__ import annotations

import io
import math
import os
import struct
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2, types_pb2
from tensorboard.plugins.hparams import summary_v2 as hparams_summary
from tensorboard.plugins.image import metadata as image_metadata
from tensorboard.plugins.scalar import metadata as scalar_metadata
from tensorboard.summary.writer.record_writer import RecordWriter
from tensorboard.util import tensor_util

import cairn
from cairn.exceptions import InvalidParameterValueError
from cairn.interchange.cairn_target import CairnTarget
from cairn.interchange.copier import Copier
from cairn.interchange.report import FidelityReport
from cairn.interchange.tensorboard import RUN_ID_NAMESPACE, TensorBoardSource
from cairn.store.validation import FLOAT_MAX

T0 = 1_700_000_000.0
LOSS = [(0, T0 + 1.001, 2.5), (1, T0 + 2.002, 1.25), (2, T0 + 3.003, math.nan),
        (3, T0 + 4.004, math.inf), (4, T0 + 5.005, 0.125)]  # fmt: skip
ACCURACY = [(0, T0 + 1.5, 0.5), (10, T0 + 2.5, 0.75), (20, T0 + 3.5, 0.875)]
EVAL_LOSS = [(0, T0 + 10.0, 3.0), (5, T0 + 11.0, 2.0)]
RATE = [(0, T0 + 10.0, 0.1), (5, T0 + 11.0, 1e-300)]  # float64: not float32 values
HPARAMS = {"learning_rate": 0.001, "batch_size": 32, "optimizer": "adam", "augment": True}


def png(color: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 3), color).save(buffer, "PNG")
    return buffer.getvalue()


RED, GREEN, BLUE = png((255, 0, 0)), png((0, 255, 0)), png((0, 0, 255))


def event(wall: float, step: int = 0, *values: summary_pb2.Summary.Value) -> event_pb2.Event:
    return event_pb2.Event(wall_time=wall, step=step, summary=summary_pb2.Summary(value=values))


def simple_scalar(tag: str, value: float) -> summary_pb2.Summary.Value:
    """TensorFlow 1.x / PyTorch's SummaryWriter: a v1 `simple_value`."""
    return summary_pb2.Summary.Value(tag=tag, simple_value=value)


def tensor_scalar(tag: str, value: float, first: bool) -> summary_pb2.Summary.Value:
    """TensorFlow 2.x: a float32 tensor, its metadata only with the series' first value."""
    metadata = scalar_metadata.create_summary_metadata("", "") if first else None
    tensor = tensor_util.make_tensor_proto(np.float32(value))
    return summary_pb2.Summary.Value(tag=tag, metadata=metadata, tensor=tensor)


def packed_scalar(tag: str, value: float) -> summary_pb2.Summary.Value:
    """A float64 tensor with its bytes packed in `tensor_content`, as TensorFlow may write."""
    metadata = scalar_metadata.create_summary_metadata("", "")
    tensor = tensor_pb2.TensorProto(
        dtype=types_pb2.DT_DOUBLE, tensor_content=struct.pack("<d", value)
    )
    return summary_pb2.Summary.Value(tag=tag, metadata=metadata, tensor=tensor)


def write_events(folder: Path, events: list[event_pb2.Event], suffix: str = "0") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"events.out.tfevents.{int(T0)}.host.{suffix}"
    writer = RecordWriter(open(path, "wb"))  # RecordWriter.close() closes the file
    writer.write(event_pb2.Event(wall_time=T0, file_version="brain.Event:2").SerializeToString())
    for item in events:
        writer.write(item.SerializeToString())
    writer.close()
    return path


@pytest.fixture
def logdir(workdir: Path) -> Path:
    """Two runs: train (v1 and v2 scalars, hparams, a v1 image series, a histogram) and
    eval/epoch (scalars, one v2 image summary of two images)."""
    root = workdir / "tb-logs"
    histogram = summary_pb2.HistogramProto(min=0, max=1, num=2, bucket_limit=[1], bucket=[2])
    train = [event(T0 + 0.5, 0, *hparams_summary.hparams_pb(HPARAMS, start_time_secs=T0).value)]
    train += [event(wall, step, simple_scalar("loss", value)) for step, wall, value in LOSS]
    train += [
        event(wall, step, tensor_scalar("metrics/acc", value, first=i == 0))
        for i, (step, wall, value) in enumerate(ACCURACY)
    ]
    for step, wall, image in ((1, T0 + 2.0, RED), (3, T0 + 4.0, GREEN)):
        encoded = summary_pb2.Summary.Image(height=3, width=4, encoded_image_string=image)
        train.append(event(wall, step, summary_pb2.Summary.Value(tag="inputs", image=encoded)))
    train.append(event(T0 + 6.0, 4, summary_pb2.Summary.Value(tag="weights", histo=histogram)))
    write_events(root / "train", train)
    images = summary_pb2.Summary.Value(
        tag="val/pred",
        metadata=image_metadata.create_summary_metadata("", "", converted_to_tensor=False),
        tensor=tensor_util.make_tensor_proto([b"4", b"3", GREEN, BLUE]),
    )
    evaluation = [
        event(wall, step, simple_scalar("loss", value)) for step, wall, value in EVAL_LOSS
    ]
    evaluation.append(event(T0 + 12.0, 5, images))
    evaluation += [event(wall, step, packed_scalar("lr", value)) for step, wall, value in RATE]
    write_events(root / "eval" / "epoch", evaluation)
    return root


def import_logs(logdir: Path, uri: str, **options: str) -> FidelityReport:
    source, target = TensorBoardSource(str(logdir), **options), CairnTarget(uri)
    try:
        return Copier(source, target).run()
    finally:
        target.close()
        source.close()


@pytest.fixture
def uri(workdir: Path) -> str:
    return f"sqlite:///{workdir}/cairn.db"


@pytest.fixture
def imported(logdir: Path, uri: str) -> Iterator[tuple[FidelityReport, cairn.Client]]:
    report = import_logs(logdir, uri)
    yield report, cairn.Client(uri)


def runs_by_name(
    client: cairn.Client, experiment: str = "tb-logs"
) -> dict[str, cairn.entities.Run]:
    found = client.get_experiment_by_name(experiment)
    assert found is not None
    return {run.info.run_name: run for run in client.search_runs([found.experiment_id])}


def points(client: cairn.Client, run_id: str, key: str) -> list[tuple[int, int, float]]:
    history = client.get_metric_history(run_id, key)
    return sorted((m.step, m.timestamp, m.value) for m in history)


def expected(series: list[tuple[int, float, float]]) -> list[tuple[int, int, float]]:
    """The points as the store gives them back: ±inf as ±FLOAT_MAX, as MLflow keeps them.
    (Event files hold float32; these values are exact in float32.)"""

    def stored(value: float) -> float:
        return math.copysign(FLOAT_MAX, value) if math.isinf(value) else value

    return sorted((step, round(wall * 1000), stored(value)) for step, wall, value in series)


def same(a: list[tuple[int, int, float]], b: list[tuple[int, int, float]]) -> bool:
    def key(p: tuple[int, int, float]) -> tuple[int, int, str]:
        return p[0], p[1], repr(p[2])  # NaN equals NaN this way

    return [key(p) for p in a] == [key(p) for p in b]


def test_one_run_per_folder_with_stable_ids_times_and_tags(imported):
    report, client = imported
    runs = runs_by_name(client)
    assert sorted(runs) == ["eval/epoch", "train"]
    train = runs["train"]
    assert train.info.run_id == uuid.uuid5(RUN_ID_NAMESPACE, "tb-logs\ntrain").hex
    assert train.info.status == "FINISHED"
    assert (train.info.start_time, train.info.end_time) == (
        round(T0 * 1000),
        round((T0 + 6) * 1000),
    )
    assert train.data.tags["mlflow.runName"] == "train"
    assert train.data.tags["cairn.source.tensorboard"] == "train"
    assert runs["eval/epoch"].data.tags["cairn.source.tensorboard"] == "eval/epoch"
    assert report.kinds["runs"].imported == 2 and report.complete


def test_every_scalar_point_arrives_with_step_and_time(imported):
    report, client = imported
    runs = runs_by_name(client)
    train, evaluation = runs["train"].info.run_id, runs["eval/epoch"].info.run_id
    assert same(points(client, train, "loss"), expected(LOSS))
    assert same(points(client, train, "metrics/acc"), expected(ACCURACY))
    assert same(points(client, evaluation, "loss"), expected(EVAL_LOSS))
    assert same(points(client, evaluation, "lr"), expected(RATE))
    total = len(LOSS) + len(ACCURACY) + len(EVAL_LOSS) + len(RATE)
    assert report.kinds["metric_points"].imported == total


def test_hparams_become_params(imported):
    _, client = imported
    params = runs_by_name(client)["train"].data.params
    assert params == {
        "learning_rate": "0.001",
        "batch_size": "32",
        "optimizer": "adam",
        "augment": "True",
    }
    assert runs_by_name(client)["eval/epoch"].data.params == {}


def test_images_become_an_image_series_with_identical_bytes(imported, tmp_path):
    report, client = imported
    runs = runs_by_name(client)
    train, evaluation = runs["train"].info.run_id, runs["eval/epoch"].info.run_id
    files = [f.path for f in client.list_artifacts(train, "images/inputs")]
    first = f"images/inputs/step_0000000001_{round((T0 + 2) * 1000)}.png"
    second = f"images/inputs/step_0000000003_{round((T0 + 4) * 1000)}.png"
    assert files == [first, second]
    assert Path(client.download_artifacts(train, first, str(tmp_path))).read_bytes() == RED
    assert Path(client.download_artifacts(train, second, str(tmp_path))).read_bytes() == GREEN
    name = f"step_0000000005_{round((T0 + 12) * 1000)}.png"
    for index, image in ((0, GREEN), (1, BLUE)):
        path = f"images/val/pred/{index}/{name}"
        assert (
            Path(client.download_artifacts(evaluation, path, str(tmp_path))).read_bytes() == image
        )
    assert report.kinds["artifact_files"].imported == 4
    assert report.artifact_bytes == len(RED) + 2 * len(GREEN) + len(BLUE)


def test_what_has_no_cairn_equivalent_is_named_in_the_problems(imported):
    report, _ = imported
    assert any("histograms (1 series: weights)" in problem for problem in report.problems)


def test_a_second_import_finds_everything_there(imported, logdir, uri):
    second = import_logs(logdir, uri)
    assert second.identical
    assert second.kinds["runs"].present == 2
    total = len(LOSS) + len(ACCURACY) + len(EVAL_LOSS) + len(RATE)
    assert second.kinds["metric_points"].present == total


def test_logs_that_grew_bring_only_what_is_new(imported, logdir, uri):
    _, client = imported
    later = [event(T0 + 20.0, 5, simple_scalar("loss", 0.0625))]
    write_events(logdir / "train", later, suffix="1")
    report = import_logs(logdir, uri)
    assert report.kinds["runs"].imported == 1 and report.kinds["runs"].present == 1
    train = runs_by_name(client)["train"]
    assert train.info.end_time == round((T0 + 20) * 1000)
    assert same(points(client, train.info.run_id, "loss"), expected([*LOSS, (5, T0 + 20, 0.0625)]))


def test_a_truncated_event_file_imports_what_it_holds(logdir, uri):
    path = next((logdir / "train").iterdir())
    data = path.read_bytes()
    path.write_bytes(data[:-7])  # the last record (the histogram) loses its end
    report = import_logs(logdir, uri)
    assert any("is truncated" in problem for problem in report.problems)
    client = cairn.Client(uri)
    train = runs_by_name(client)["train"].info.run_id
    assert same(points(client, train, "loss"), expected(LOSS))
    assert report.kinds["runs"].imported == 2


def test_a_run_with_no_readable_event_still_comes_with_its_problems(logdir, uri):
    broken = logdir / "broken"
    broken.mkdir()
    (broken / "events.out.tfevents.1.host.0").write_bytes(b"\x05\x00\x00")
    report = import_logs(logdir, uri)
    assert any("no readable event" in problem for problem in report.problems)
    assert any("is truncated: 3 bytes at byte 0 unread" in p for p in report.problems)
    assert sorted(runs_by_name(cairn.Client(uri))) == ["broken", "eval/epoch", "train"]


def test_a_corrupt_record_is_skipped_and_the_rest_imports(workdir, uri):
    root = workdir / "tb-logs"
    path = write_events(root, [event(T0 + s, s, simple_scalar("loss", float(s))) for s in range(3)])
    data = bytearray(path.read_bytes())
    records, offset = [], 0
    while offset < len(data):
        length = int.from_bytes(data[offset : offset + 8], "little")
        records.append((offset, length))
        offset += 16 + length
    second_point = records[2]  # records: file_version, step 0, step 1, step 2
    data[second_point[0] + 12 + second_point[1] // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    report = import_logs(root, uri)
    assert any("checksum mismatch" in problem for problem in report.problems)
    client = cairn.Client(uri)
    run = runs_by_name(client)["tb-logs"]
    assert run.data.tags["cairn.source.tensorboard"] == "."
    assert [(p[0], p[2]) for p in points(client, run.info.run_id, "loss")] == [(0, 0.0), (2, 2.0)]


def test_experiment_name_is_the_callers_choice(logdir, uri):
    import_logs(logdir, uri, experiment_name="vision")
    assert sorted(runs_by_name(cairn.Client(uri), "vision")) == ["eval/epoch", "train"]


def test_close_removes_the_scratch_space(logdir):
    source = TensorBoardSource(str(logdir))
    listed = list(source.runs("1"))
    scratch = [item.run.info.artifact_uri for item in listed]
    assert all(os.path.isdir(folder) for folder in scratch)
    source.close()
    assert not any(os.path.exists(folder) for folder in scratch)


def test_a_missing_log_directory_is_a_clear_error(workdir):
    with pytest.raises(InvalidParameterValueError, match="No TensorBoard log directory"):
        TensorBoardSource(str(workdir / "nowhere"))


def test_without_the_tensorboard_extra_the_error_says_what_to_install(logdir, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboard", None)  # as if it were not installed
    hint = r"pip install 'cairn-tracker\[tensorboard\]'"
    with pytest.raises(InvalidParameterValueError, match=hint):
        TensorBoardSource(str(logdir))
