"""A TensorBoard log directory as an import source: `cairn import tensorboard LOGDIR`.

What becomes what:

- One experiment, named by the caller (default: the log directory's folder name). Its id
  "1" is only a proposal: the target keeps an experiment of the same name, or picks a free id.
- One run per folder that holds event files (`*tfevents*`): the log directory itself when
  it has some, and every folder below it, named by its path relative to the log directory
  ("train", "sweep/lr=0.1"; the log directory's own run is named after its folder).
- Run ids are a UUID-5 of the experiment name and that relative path, so importing the same
  logs again finds the same runs: the import is idempotent, and logs that grew since bring
  only what is new (the run's end time moved, so it is copied again; repeats are stored once).
- A run starts at its first event's wall time and ends at its last one, FINISHED, with no
  user (event files do not say who wrote them). Tags: `mlflow.runName`, and
  `cairn.source.tensorboard` = the relative path it came from.
- Scalars (v1 `simple_value` summaries and v2 tensors of the "scalars" plugin) become
  metric histories keyed by their TensorBoard tags (`/` kept), each point with its step and
  wall time in milliseconds. Every point comes, NaN and ±inf included: nothing is sampled
  (EventAccumulator's reservoirs keep a sample) and nothing is purged after a restart
  (TensorBoard hides the steps a restarted job wrote twice; both are imported).
- Hyperparameters (the hparams plugin's session_start_info) become params: strings as they
  are, booleans as "True"/"False", integral numbers without ".0" ("32", as TensorBoard
  shows them), other numbers as Python writes them. The hparams' metrics are scalars anyway.
- Images (v1 image summaries and v2 "images" tensors) become an image series laid out as
  `log_image(key=..., step=...)` lays it out, which the UI shows with a step slider:
  `images/<tag>/step_<step, 10 digits>_<wall time ms>.png` (`.jpg`, `.gif`, `.webp` when the
  bytes are one); a summary of k > 1 images puts image i under `images/<tag>/<i>/`.
- Histograms, text, audio, graphs and other plugins have no Cairn equivalent: each run says
  which series it left out in its problems. A truncated event file (a job killed while
  writing) or a corrupt record is a problem of its run, and the rest imports.

How it reads: event files are read record by record (the TFRecord framing, checksums
verified with tensorboard's CRC-32C) into tensorboard's Event protos, and each summary value
goes through TensorBoard's read-time `data_compat` migration (v1 images, histograms, audio
become v2 tensors); a series' plugin is the one its first value names, as TensorBoard
decides. v1 `simple_value` scalars are read directly: migrating builds a tensor for each
point, which made reading eight times slower. TensorBoard's `EventFileLoader` is not used
because it stops silently at the first truncated or corrupt record.
Listing a run reads its files once: scalar points are spooled into a scratch SQLite file
(so `metric_history` streams them back in chunks, never a whole history in memory) and
images are written into a scratch folder laid out as an artifact root (the run's
`artifact_uri`). `close()` removes the scratch space, so these runs can only be imported
with their files copied (`--artifacts=copy`), never referenced.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import sqlite3
import struct
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from cairn.artifact_store.base import ArtifactRepository
from cairn.artifact_store.uri import artifact_repository
from cairn.entities import (
    Experiment,
    LifecycleStage,
    LoggedModel,
    ModelVersion,
    RegisteredModel,
    Run,
    RunData,
    RunInfo,
    RunStatus,
)
from cairn.exceptions import InvalidParameterValueError, ResourceDoesNotExistError
from cairn.extras import install_hint
from cairn.interchange.source import CHUNK_POINTS, SourceRun
from cairn.store.base import MetricPoint
from cairn.store.run_names import RUN_NAME_TAG

EXPERIMENT_ID = "1"
SOURCE_TAG = "cairn.source.tensorboard"
#: Fixed, so that a run's id depends only on the experiment name and the run's path.
RUN_ID_NAMESPACE = uuid.UUID("6f1c3a52-8d0e-4c1b-9a7e-2b4d5f6a7c80")
#: Problems kept per run; beyond, only counted (a damaged file can repeat one a million times).
MAX_RUN_PROBLEMS = 20
#: Points spooled per insert.
SPOOL_BATCH = 10_000
#: Events that carry a graph, which Cairn has no place for.
GRAPH_EVENTS = ("graph_def", "meta_graph_def", "tagged_run_metadata")
#: Series named per left-out plugin in a run's problems.
NAMED_SERIES = 5
_UNSAFE_PATH_CHARACTERS = re.compile(r"[^A-Za-z0-9._\-=+,()@ ]")
_IMAGE_EXTENSIONS = (
    (b"\x89PNG\r\n\x1a\n", ".png"),
    (b"\xff\xd8\xff", ".jpg"),
    (b"GIF8", ".gif"),
)


@dataclass(frozen=True)
class _TensorBoard:
    """The parts of the `tensorboard` package read here, imported when a source is made:
    it is the optional `cairn-tracker[tensorboard]` extra."""

    event_pb2: Any
    types_pb2: Any
    data_compat: Any
    hparams_metadata: Any
    tensor_util: Any
    masked_crc32c: Callable[[bytes], int]


def _load_tensorboard() -> _TensorBoard:
    try:
        from tensorboard import data_compat
        from tensorboard.compat.proto import event_pb2, types_pb2
        from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c
        from tensorboard.plugins.hparams import metadata as hparams_metadata
        from tensorboard.util import tensor_util
    except ImportError as error:
        raise InvalidParameterValueError(
            "Reading TensorBoard logs needs the tensorboard package: "
            f"{install_hint('tensorboard')} ({error})."
        ) from error
    return _TensorBoard(
        event_pb2, types_pb2, data_compat, hparams_metadata, tensor_util, masked_crc32c
    )


class TensorBoardSource:
    """The runs of the TensorBoard log directory `logdir`, in one experiment named
    `experiment_name` (default: the directory's folder name). Close it when done: that
    removes its scratch space."""

    def __init__(self, logdir: str, experiment_name: str | None = None) -> None:
        self.logdir = os.path.abspath(logdir)
        if not os.path.isdir(self.logdir):
            raise InvalidParameterValueError(f"No TensorBoard log directory at {logdir!r}.")
        self.experiment_name = experiment_name or os.path.basename(self.logdir)
        if not self.experiment_name:
            raise InvalidParameterValueError(f"Give an experiment name for the logs at {logdir!r}.")
        self.description = f"TensorBoard logs at {self.logdir}"
        self.problems: list[str] = []  # per run, in SourceRun.problems; none store-wide
        self._tensorboard = _load_tensorboard()
        self._created = int(time.time() * 1000)
        self._scratch = tempfile.mkdtemp(prefix="cairn-tensorboard-")
        self._spool = _PointSpool(os.path.join(self._scratch, "points.sqlite"))
        self._listed: dict[str, SourceRun] = {}
        self._series: dict[str, dict[str, int]] = {}

    def experiments(self) -> Iterator[Experiment]:
        yield Experiment(
            experiment_id=EXPERIMENT_ID,
            name=self.experiment_name,
            artifact_location="",
            lifecycle_stage=LifecycleStage.ACTIVE,
            creation_time=self._created,
            last_update_time=self._created,
        )

    def run_count(self) -> int | None:
        return sum(1 for _ in _run_folders(self.logdir))

    def runs(self, experiment_id: str) -> Iterator[SourceRun]:
        if experiment_id != EXPERIMENT_ID:
            return
        for folder, relative in _run_folders(self.logdir):
            run_id = uuid.uuid5(RUN_ID_NAMESPACE, f"{self.experiment_name}\n{relative}").hex
            if run_id not in self._listed:
                self._listed[run_id] = self._read_run(run_id, folder, relative)
            yield self._listed[run_id]

    def _read_run(self, run_id: str, folder: str, relative: str) -> SourceRun:
        artifact_root = os.path.join(self._scratch, "runs", run_id)
        os.makedirs(artifact_root)
        reading = _RunReading(self._tensorboard, self._spool, artifact_root)
        files = sorted(n for n in os.listdir(folder) if _is_event_file(os.path.join(folder, n)))
        for name in files:
            try:
                reading.read(os.path.join(folder, name), name)
            except OSError as error:
                reading.problem(f"{name} not read ({error})")
        self._spool.flush()
        self._series[run_id] = reading.series
        first, last = reading.first, reading.last
        if first is None or last is None:  # no readable event: the files' times stand in
            reading.problem("no readable event; the run's times are its files' times")
            first = last = min(os.path.getmtime(os.path.join(folder, n)) for n in files)
        name = os.path.basename(self.logdir) if relative == "." else relative
        info = RunInfo(
            run_id=run_id,
            experiment_id=EXPERIMENT_ID,
            run_name=name,
            user_id="",
            status=RunStatus.FINISHED.value,
            start_time=_milliseconds(first),
            end_time=_milliseconds(last),
            artifact_uri=artifact_root,
            lifecycle_stage=LifecycleStage.ACTIVE,
        )
        data = RunData(params=reading.params, tags={RUN_NAME_TAG: name, SOURCE_TAG: relative})
        return SourceRun(
            run=Run(info, data),
            metric_keys=tuple(reading.series),
            point_count=reading.points,
            problems=reading.problems_in_full(),
        )

    def metric_history(self, run_id: str, key: str) -> Iterator[Sequence[MetricPoint]]:
        series = self._series.get(run_id)
        if series is None:
            raise ResourceDoesNotExistError(f"No run {run_id} listed from {self.logdir}.")
        if key not in series:
            return
        for chunk in self._spool.history(series[key]):
            yield [(run_id, key, value, timestamp, step) for step, timestamp, value in chunk]

    def logged_models(self, experiment_id: str) -> Iterator[LoggedModel]:
        return iter(())

    def registered_models(self) -> Iterator[RegisteredModel]:
        return iter(())

    def model_versions(self, name: str) -> Iterator[ModelVersion]:
        return iter(())

    def artifacts(self, root_uri: str) -> ArtifactRepository | None:
        """The images of a listed run, from its scratch folder (named by the run's id)."""
        folder, run_id = os.path.split(root_uri)
        if folder != os.path.join(self._scratch, "runs") or run_id not in self._listed:
            return None
        return artifact_repository(root_uri)

    def close(self) -> None:
        self._spool.close()
        shutil.rmtree(self._scratch, ignore_errors=True)


def _run_folders(logdir: str) -> Iterator[tuple[str, str]]:
    """(folder, path relative to `logdir` in POSIX form, "." for itself) of every folder
    holding event files, in a stable order."""
    for folder, folders, names in os.walk(logdir):
        folders.sort()
        if any(_is_event_file(os.path.join(folder, name)) for name in names):
            relative = os.path.relpath(folder, logdir).replace(os.sep, "/")
            yield folder, relative


def _is_event_file(path: str) -> bool:
    """TensorBoard's rule: a file whose name holds "tfevents"."""
    return "tfevents" in os.path.basename(path) and os.path.isfile(path)


def _milliseconds(wall_time: float) -> int:
    return round(wall_time * 1000)


class _PointSpool:
    """Scalar points on disk between reading a run and copying its histories: one SQLite
    table, points in the order read, one integer per (run, tag) series."""

    def __init__(self, path: str) -> None:
        self._db = sqlite3.connect(path)
        self._db.execute("PRAGMA journal_mode = OFF")
        self._db.execute("PRAGMA synchronous = OFF")
        self._db.execute("CREATE TABLE points (series INTEGER, step INTEGER, ts INTEGER, v REAL)")
        self._db.execute("CREATE INDEX points_series ON points (series)")
        self._pending: list[tuple[int, int, int, float | None]] = []
        self._next_series = 0

    def new_series(self) -> int:
        self._next_series += 1
        return self._next_series

    def add(self, series: int, step: int, timestamp: int, value: float) -> None:
        # SQLite keeps NaN as NULL: written as NULL here, read back as NaN.
        self._pending.append((series, step, timestamp, None if math.isnan(value) else value))
        if len(self._pending) >= SPOOL_BATCH:
            self.flush()

    def flush(self) -> None:
        self._db.executemany("INSERT INTO points VALUES (?, ?, ?, ?)", self._pending)
        self._pending = []

    def history(self, series: int) -> Iterator[list[tuple[int, int, float]]]:
        """(step, timestamp, value) of one series, in chunks of at most CHUNK_POINTS."""
        after = 0
        while True:
            rows = self._db.execute(
                "SELECT rowid, step, ts, v FROM points WHERE series = ? AND rowid > ? "
                "ORDER BY rowid LIMIT ?",
                (series, after, CHUNK_POINTS),
            ).fetchall()
            if not rows:
                return
            yield [(step, ts, math.nan if v is None else v) for _, step, ts, v in rows]
            after = rows[-1][0]

    def close(self) -> None:
        self._db.close()


class _RunReading:
    """One pass over a run's event files: scalar points into the spool, images into the
    run's artifact folder, hparams into params, the first and last wall times, and what
    could not be read or has no Cairn equivalent."""

    def __init__(self, tensorboard: _TensorBoard, spool: _PointSpool, artifact_root: str):
        self.tb = tensorboard
        self.spool = spool
        self.artifact_root = artifact_root
        self.first: float | None = None
        self.last: float | None = None
        self.series: dict[str, int] = {}
        self.points = 0
        self.params: dict[str, str] = {}
        self.problems: list[str] = []
        self.more_problems = 0
        self.left_out: dict[str, set[str]] = {}
        # Each tag's plugin, from its first value: TensorFlow 2 writes a series' metadata
        # only with its first value, and a run's files share it (as TensorBoard reads them).
        self.plugins: dict[str, str] = {}

    def problem(self, message: str) -> None:
        if len(self.problems) < MAX_RUN_PROBLEMS:
            self.problems.append(message)
        else:
            self.more_problems += 1

    def problems_in_full(self) -> list[str]:
        found = list(self.problems)
        if self.more_problems:
            found.append(f"{self.more_problems} more problems like these")
        for plugin, tags in sorted(self.left_out.items()):
            named = ", ".join(sorted(tags)[:NAMED_SERIES])
            more = f" and {len(tags) - NAMED_SERIES} more" if len(tags) > NAMED_SERIES else ""
            found.append(
                f"not imported, no Cairn equivalent: {plugin or 'no plugin'} "
                f"({len(tags)} series: {named}{more})"
            )
        return found

    def read(self, path: str, name: str) -> None:
        for offset, record in _records(path, name, self.tb.masked_crc32c, self.problem):
            try:
                event = self.tb.event_pb2.Event.FromString(record)
            except Exception as error:  # protobuf's DecodeError, or worse
                self.problem(f"{name}: record at byte {offset} is not an event ({error!r})")
                continue
            self._event(event, name)

    def _event(self, event: Any, name: str) -> None:
        wall = float(event.wall_time)
        self.first = wall if self.first is None else min(self.first, wall)
        self.last = wall if self.last is None else max(self.last, wall)
        what = event.WhichOneof("what")
        if what in GRAPH_EVENTS:
            self.left_out.setdefault("graphs", set()).add(what)
        if what != "summary":
            return
        step, timestamp = int(event.step), _milliseconds(wall)
        for value in event.summary.value:
            try:
                self._value(value, step, timestamp)
            except Exception as error:  # a value TensorBoard's own parsers reject
                self.problem(f"{name}: {value.tag!r} at step {step} not read ({error!r})")

    def _value(self, value: Any, step: int, timestamp: int) -> None:
        tag = str(value.tag)
        if value.WhichOneof("value") == "simple_value":
            # A v1 scalar, read as data_compat would migrate it, without building a tensor
            # for each point (that costs 100 µs a point).
            self._point(tag, step, timestamp, float(value.simple_value))
            return
        value = self.tb.data_compat.migrate_value(value)  # v1 images, histograms, audio
        plugin = self.plugins.setdefault(tag, str(value.metadata.plugin_data.plugin_name))
        if plugin == "scalars":
            self._point(tag, step, timestamp, self._tensor_scalar(value.tensor))
        elif plugin == "images":
            self._images(tag, step, timestamp, list(value.tensor.string_val)[2:])
        elif plugin == self.tb.hparams_metadata.PLUGIN_NAME:
            self._hparams(tag, value.metadata.plugin_data.content)
        else:
            self.left_out.setdefault(plugin, set()).add(tag)

    def _tensor_scalar(self, tensor: Any) -> float:
        types = self.tb.types_pb2
        if tensor.dtype == types.DT_FLOAT and len(tensor.float_val) == 1:
            return float(tensor.float_val[0])
        if tensor.dtype == types.DT_DOUBLE and len(tensor.double_val) == 1:
            return float(tensor.double_val[0])
        array = self.tb.tensor_util.make_ndarray(tensor)  # packed content, other dtypes
        if array.size != 1:
            raise ValueError(f"a scalar holds {array.size} values")
        return float(array.reshape(-1)[0])

    def _point(self, tag: str, step: int, timestamp: int, value: float) -> None:
        series = self.series.get(tag)
        if series is None:
            series = self.series[tag] = self.spool.new_series()
        self.spool.add(series, step, timestamp, value)
        self.points += 1

    def _images(self, tag: str, step: int, timestamp: int, images: list[bytes]) -> None:
        for index, image in enumerate(images):
            key = tag if len(images) == 1 else f"{tag}/{index}"
            folder = os.path.join(self.artifact_root, "images", *_path_segments(key))
            os.makedirs(folder, exist_ok=True)
            name = f"step_{step:010d}_{timestamp}{_image_extension(image)}"
            with open(os.path.join(folder, name), "wb") as out:
                out.write(image)

    def _hparams(self, tag: str, content: bytes) -> None:
        if tag != self.tb.hparams_metadata.SESSION_START_INFO_TAG:
            return  # the experiment's domains and the session's end say nothing of the run
        start = self.tb.hparams_metadata.parse_session_start_info_plugin_data(content)
        for key, value in start.hparams.items():
            kind = value.WhichOneof("kind")
            if kind == "string_value":
                self.params[str(key)] = str(value.string_value)
            elif kind == "bool_value":
                self.params[str(key)] = str(bool(value.bool_value))
            elif kind == "number_value":
                self.params[str(key)] = _number_text(float(value.number_value))
            else:
                self.problem(f"hparam {key!r} holds a {kind or 'missing'} value, not imported")


def _records(
    path: str, name: str, masked_crc: Callable[[bytes], int], problem: Callable[[str], None]
) -> Iterator[tuple[int, bytes]]:
    """(offset, data) of each record of a TFRecord file: an 8-byte length, its masked
    CRC-32C, the data, its masked CRC-32C. A record whose data fails its checksum is
    skipped; a length that fails its checksum, or a file that ends inside a record, ends
    the reading of the file (where the next record starts is unknown)."""
    size = os.path.getsize(path)
    offset = 0
    with open(path, "rb") as stream:
        while header := stream.read(12):
            if len(header) < 12:
                problem(f"{name} is truncated: {size - offset} bytes at byte {offset} unread")
                return
            length, length_crc = struct.unpack("<QI", header)
            if masked_crc(header[:8]) != length_crc:
                problem(f"{name}: corrupt record at byte {offset}; the rest of the file unread")
                return
            if offset + 16 + length > size:
                problem(f"{name} is truncated: {size - offset} bytes at byte {offset} unread")
                return
            data, footer = stream.read(length), stream.read(4)
            if masked_crc(data) != struct.unpack("<I", footer)[0]:
                problem(f"{name}: corrupt record at byte {offset} skipped (checksum mismatch)")
            else:
                yield offset, data
            offset += 16 + length


def _path_segments(tag: str) -> list[str]:
    """A tag's `/`-separated parts as safe folder names: characters an artifact path or a
    file system may refuse become `_`, and so do empty, `.` and `..` parts."""
    parts = [_UNSAFE_PATH_CHARACTERS.sub("_", part) for part in tag.split("/")]
    return [part if part.strip(". ") else "_" for part in parts]


def _image_extension(image: bytes) -> str:
    for magic, extension in _IMAGE_EXTENSIONS:
        if image.startswith(magic):
            return extension
    if image[:4] == b"RIFF" and image[8:12] == b"WEBP":
        return ".webp"
    return ".png"  # what TensorBoard's summaries encode


def _number_text(number: float) -> str:
    if number.is_integer() and abs(number) < 2**53:
        return str(int(number))
    return repr(number)
