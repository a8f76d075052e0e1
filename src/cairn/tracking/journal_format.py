"""The journal's segment files: framed JSON records, readable up to the last whole one.

A record is `length (u32 LE) | crc32 (u32 LE) | JSON object`. A process killed in the
middle of a write leaves a short or mismatching tail; a reader stops there, so a torn
record is never half-applied. Kinds of record (`op`):

* `segment`: the first record: which tracking URI the segment's work is for.
* `points`: metric points `[run_id, key, value, timestamp, step]`, with `key` the batch's
  idempotency key. JSON has no NaN or infinity: those values travel as the strings
  "NaN", "Infinity" and "-Infinity".
* `call`: one run operation (`name`, `args`) that could not reach the store, with its key.
* `ack`: every delivery record up to `seq` reached the store.
* `open`: a run this process started (`run`, `ts`): if the process dies, the run is ended
  KILLED at its last journaled point.
"""

from __future__ import annotations

import math
import os
import struct
import zlib
from collections.abc import Iterator, Sequence
from typing import Any

import orjson

from cairn.store.base import MetricPoint

HEADER = struct.Struct("<II")
SUFFIX = ".journal"
_NON_FINITE = b"null"  # how orjson writes NaN and infinities
_CLOSE = b"}"


def frame(payload: bytes) -> bytes:
    return HEADER.pack(len(payload), zlib.crc32(payload)) + payload


def encode(record: dict[str, Any]) -> bytes:
    return frame(orjson.dumps(record))


def encode_points(seq: int, key: str, points: Sequence[MetricPoint]) -> list[bytes]:
    """A `points` record as parts to write together (a batch is a megabyte: joining its
    parts would copy it twice). Built without a dict per point (this runs for every batch)."""
    data = orjson.dumps(points)
    if _NON_FINITE in data:
        data = orjson.dumps(jsonable_points(points))
    head = orjson.dumps({"op": "points", "seq": seq, "key": key})[:-1] + b',"points":'
    checksum = zlib.crc32(_CLOSE, zlib.crc32(data, zlib.crc32(head)))
    return [HEADER.pack(len(head) + len(data) + 1, checksum), head, data, _CLOSE]


def decode_points(raw: list[list[Any]]) -> list[MetricPoint]:
    return [(r, k, float(v) if type(v) is str else v, t, s) for r, k, v, t, s in raw]


def jsonable_points(points: Sequence[MetricPoint]) -> list[tuple[Any, ...]]:
    """Points with NaN and infinities spelled as the strings `float()` reads back."""
    return [(r, k, _finite_or_name(v), t, s) for r, k, v, t, s in points]


def _finite_or_name(value: float) -> float | str:
    if math.isfinite(value):
        return value
    return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")


def decode(payload: bytes) -> dict[str, Any]:
    record: dict[str, Any] = orjson.loads(payload)
    return record


def read_at(fd: int, offset: int, length: int) -> dict[str, Any]:
    """The record whose payload is `length` bytes at `offset` (as `records` reported it)."""
    return decode(os.pread(fd, length, offset))


def records(data: bytes) -> Iterator[tuple[int, int, dict[str, Any]]]:
    """(payload offset, payload length, record) for each whole record, in order; stops at
    a torn or corrupt tail."""
    position, end = 0, len(data)
    while position + HEADER.size <= end:
        length, checksum = HEADER.unpack_from(data, position)
        start = position + HEADER.size
        payload = data[start : start + length]
        if len(payload) < length or zlib.crc32(payload) != checksum:
            return
        try:
            record = decode(payload)
        except orjson.JSONDecodeError:
            return
        yield start, length, record
        position = start + length
