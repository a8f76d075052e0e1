"""The system metrics sampler on this machine: real psutil, real threads, no sleeps."""

from __future__ import annotations

import os
import sys
import threading
import time

import pytest

from cairn.tracking import system_metrics as sm

Sample = tuple[int, dict[str, float]]


class Collector:
    """A `log` callable that signals once `wanted` samples have arrived."""

    def __init__(self, wanted: int) -> None:
        self.samples: list[Sample] = []
        self.wanted = wanted
        self.arrived = threading.Event()

    def __call__(self, metrics: dict[str, float], step: int) -> None:
        self.samples.append((step, metrics))
        if len(self.samples) >= self.wanted:
            self.arrived.set()


@pytest.fixture(autouse=True)
def no_interval_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CAIRN_SYSTEM_METRICS_INTERVAL", raising=False)


def test_samples_arrive_with_sane_names_and_values() -> None:
    collector = Collector(3)
    sampler = sm.SystemMetricsSampler(collector, interval=0.05).start()
    assert collector.arrived.wait(30)
    sampler.stop()
    steps = [step for step, _ in collector.samples]
    assert steps == list(range(len(steps)))
    cpus = os.cpu_count() or 1
    for _, metrics in collector.samples:
        assert all(name.startswith("system/") for name in metrics)
        assert all(type(value) is float for value in metrics.values())
        assert 0 <= metrics["system/cpu_utilization_percentage"] <= 100 * cpus
        assert metrics["system/system_memory_usage_megabytes"] > 0
        assert 0 < metrics["system/system_memory_usage_percentage"] <= 100
        assert metrics["system/disk_available_megabytes"] > 0
        for counter in ("disk_read", "disk_write", "network_receive", "network_transmit"):
            assert metrics.get(f"system/{counter}_megabytes", 0.0) >= 0


def test_stop_is_prompt_even_with_a_long_interval() -> None:
    sampler = sm.SystemMetricsSampler(Collector(1), interval=3600).start()
    assert sampler.running
    started = time.perf_counter()
    sampler.stop()
    assert time.perf_counter() - started < 2
    assert not sampler.running


def test_steps_continue_from_first_step() -> None:
    collector = Collector(2)
    with sm.SystemMetricsSampler(collector, interval=0.05, first_step=7) as sampler:
        assert collector.arrived.wait(30)
    assert not sampler.running
    assert [step for step, _ in collector.samples[:2]] == [7, 8]


def test_a_failing_log_keeps_sampling_and_keeps_the_error() -> None:
    collector = Collector(2)
    failures: list[int] = []

    def log(metrics: dict[str, float], step: int) -> None:
        if not failures:
            failures.append(step)
            raise ConnectionError("store away")
        collector(metrics, step)

    sampler = sm.SystemMetricsSampler(log, interval=0.05).start()
    assert collector.arrived.wait(30)
    sampler.stop()
    assert isinstance(sampler.error, ConnectionError)
    assert failures == [0] and collector.samples[0][0] == 1


def test_a_sampler_starts_once() -> None:
    sampler = sm.SystemMetricsSampler(Collector(1), interval=3600).start()
    try:
        with pytest.raises(RuntimeError, match="already started"):
            sampler.start()
    finally:
        sampler.stop()


def test_one_sample_on_demand() -> None:
    metrics = sm.SystemMetricsSampler(Collector(1), interval=1).sample()
    assert "system/cpu_utilization_percentage" in metrics
    assert metrics["system/system_memory_usage_megabytes"] > 0


def test_interval_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAIRN_SYSTEM_METRICS_INTERVAL", "0.25")
    assert sm.SystemMetricsSampler(Collector(1)).interval == 0.25
    assert sm.SystemMetricsSampler(Collector(1), interval=2).interval == 2
    for bad in ("soon", "-1", "0"):
        monkeypatch.setenv("CAIRN_SYSTEM_METRICS_INTERVAL", bad)
        assert sm.sampling_interval() == sm.DEFAULT_INTERVAL_SECONDS


def test_non_positive_interval_is_refused() -> None:
    with pytest.raises(ValueError, match="positive"):
        sm.SystemMetricsSampler(Collector(1), interval=0)


def test_missing_psutil_names_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psutil", None)  # Python's documented import block
    with pytest.raises(ImportError, match=r"pip install .cairn-tracker\[system-metrics\]."):
        sm.SystemMetricsSampler(Collector(1))


def test_enable_flag_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    for raw, expected in [("", False), ("true", True), ("1", True), ("no", False)]:
        monkeypatch.setenv("CAIRN_LOG_SYSTEM_METRICS", raw)
        assert sm.system_metrics_enabled() is expected
