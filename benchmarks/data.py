"""Deterministic synthetic run data: both tools store identical rows, so searches compare fairly."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

PARAM_KEYS = [f"p{i}" for i in range(5)]
METRIC_KEYS = [f"m{i}" for i in range(5)]
TAG_KEYS = [f"t{i}" for i in range(3)]


@dataclass(frozen=True)
class RunPayload:
    """What one benchmark run logs: 5 params, 5 metrics, 3 tags."""

    params: dict[str, str]
    metrics: dict[str, float]
    tags: dict[str, str]


def rng(seed: int = 42) -> random.Random:
    """A seeded generator, so every invocation seeds the same data."""
    return random.Random(seed)


def run_payload(gen: random.Random) -> RunPayload:
    """Params p0..p4 drawn from 'abcd', metrics m0..m4 uniform in [0, 1), tags t0..t2."""
    return RunPayload(
        params={k: gen.choice("abcd") for k in PARAM_KEYS},
        metrics={k: gen.random() for k in METRIC_KEYS},
        tags={k: f"tag-{gen.randrange(10)}" for k in TAG_KEYS},
    )


def now_ms() -> int:
    """Wall-clock milliseconds, the timestamp unit of both tools' Metric entity."""
    return int(time.time() * 1000)
