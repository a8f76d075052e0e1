"""Run ids: 32 hex characters like MLflow's, but time-ordered (UUIDv7 layout).

Every run table is keyed by run id first. With random ids each new run's rows land on
random B-tree pages and a commit writes many of them; ids that grow with time append at
the right edge, so a commit writes a few pages. Measured on SQLite: ~3x cheaper commits.
"""

from __future__ import annotations

import os
import time
import uuid


def new_run_id() -> str:
    millis = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (millis & (2**48 - 1)) << 80 | rand & (2**80 - 1)
    value = value & ~(0xF << 76) | 0x7 << 76  # version 7
    value = value & ~(0x3 << 62) | 0x2 << 62  # RFC 4122 variant
    return uuid.UUID(int=value).hex
