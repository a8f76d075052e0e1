"""Optional system metrics for a run, sampled by a daemon thread every few seconds.

The names are MLflow's (prefix `system/`; a megabyte is 10**6 bytes) so charts of runs from
either tool line up. I/O counters count from the sampler's start, not from boot:

    system/cpu_utilization_percentage        whole machine, 0-100
    system/system_memory_usage_megabytes     used
    system/system_memory_usage_percentage    used / total * 100
    system/disk_usage_megabytes              used on the root file system
    system/disk_usage_percentage
    system/disk_available_megabytes
    system/disk_read_megabytes               read from all disks since start
    system/disk_write_megabytes              written to all disks since start
    system/network_receive_megabytes         since start
    system/network_transmit_megabytes        since start
    system/gpu_<i>_utilization_percentage    per NVIDIA GPU, when pynvml is importable
    system/gpu_<i>_memory_usage_megabytes
    system/gpu_<i>_memory_usage_percentage
    system/gpu_<i>_power_usage_watts
    system/gpu_<i>_power_usage_percentage

A reading that the machine cannot give (no disk counters in a container, no GPU) is left out.
The step is the sample index, from `first_step` (pass the next free step to resume a run).
psutil is imported only when a sampler is made, so Cairn does not need it otherwise.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any

PREFIX = "system/"
DEFAULT_INTERVAL_SECONDS = 10.0
MEGABYTE = 1e6
STOP_TIMEOUT_SECONDS = 5.0

LogMetrics = Callable[[dict[str, float], int], None]
"""Receives one sample: {name: value} and its step, e.g. `lambda m, s: log_metrics(m, step=s)`."""

from cairn import env  # noqa: E402
from cairn.extras import MissingExtraError, require  # noqa: E402

_logger = logging.getLogger(__name__)


def system_metrics_enabled() -> bool:
    """`CAIRN_LOG_SYSTEM_METRICS`: sample system metrics for every run (default off)."""
    return env.log_system_metrics()


def sampling_interval() -> float:
    """`CAIRN_SYSTEM_METRICS_INTERVAL`: seconds between samples (default 10)."""
    return env.system_metrics_interval_seconds()


def _import_psutil() -> Any:
    return require("psutil", extra="system-metrics", needed_for="Logging system metrics")


class _Gpus:
    """NVIDIA GPUs through NVML (pynvml comes with nvidia-ml-py), or none when pynvml or
    the driver is missing: CPU-only machines are normal, so that is a debug line only."""

    def __init__(self) -> None:
        self._nvml: Any = None
        self._handles: list[Any] = []
        try:
            pynvml = require("pynvml", extra="system-metrics", needed_for="GPU metrics")
        except MissingExtraError as missing:
            _logger.debug("No GPU metrics: %s", missing)
            return
        try:
            pynvml.nvmlInit()
        except Exception as error:  # no driver or no GPU: no GPU metrics
            _logger.debug("No GPU metrics: NVML did not start (%s)", error)
            return
        self._nvml = pynvml
        try:
            count = pynvml.nvmlDeviceGetCount()
            self._handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(count)]
        except Exception:
            self.close()

    def sample(self, into: dict[str, float]) -> None:
        for index, handle in enumerate(self._handles):
            for reading in (self._memory, self._utilization, self._power):
                _read(into, functools.partial(reading, f"gpu_{index}_", handle))

    def _memory(self, prefix: str, handle: Any) -> dict[str, float]:
        memory = self._nvml.nvmlDeviceGetMemoryInfo(handle)
        return {
            f"{prefix}memory_usage_megabytes": memory.used / MEGABYTE,
            f"{prefix}memory_usage_percentage": memory.used / memory.total * 100,
        }

    def _utilization(self, prefix: str, handle: Any) -> dict[str, float]:
        rates = self._nvml.nvmlDeviceGetUtilizationRates(handle)
        return {f"{prefix}utilization_percentage": float(rates.gpu)}

    def _power(self, prefix: str, handle: Any) -> dict[str, float]:
        milliwatts = self._nvml.nvmlDeviceGetPowerUsage(handle)
        limit = self._nvml.nvmlDeviceGetEnforcedPowerLimit(handle)
        return {
            f"{prefix}power_usage_watts": milliwatts / 1000,
            f"{prefix}power_usage_percentage": milliwatts / limit * 100,
        }

    def close(self) -> None:
        nvml, self._nvml, self._handles = self._nvml, None, []
        if nvml is not None:
            try:
                nvml.nvmlShutdown()
            except Exception:
                pass  # the driver went away: nothing left to release


def _read(into: dict[str, float], reading: Callable[[], dict[str, float]]) -> None:
    """Add one group of readings; a group the machine cannot give is left out."""
    try:
        into.update(reading())
    except Exception:
        pass


class SystemMetricsSampler:
    """Samples system metrics every `interval` seconds and hands each sample to `log`.

    Example:
        >>> sampler = SystemMetricsSampler(lambda m, s: cairn.log_metrics(m, step=s)).start()
        >>> ...  # train
        >>> sampler.stop()
    """

    def __init__(self, log: LogMetrics, interval: float | None = None, first_step: int = 0):
        self._psutil = _import_psutil()
        self._log = log
        self.interval = sampling_interval() if interval is None else interval
        if not self.interval > 0:
            raise ValueError(f"interval must be positive, got {self.interval!r}")
        self.next_step = first_step
        self.error: BaseException | None = None  # the last failure of `log`, kept for the caller
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._gpus: _Gpus | None = None
        self._take_baselines()

    def _take_baselines(self) -> None:
        """CPU % and I/O are differences: from here to the next sample."""
        self._psutil.cpu_percent(interval=None)
        self._disk_start = self._counters(self._psutil.disk_io_counters)
        self._network_start = self._counters(self._psutil.net_io_counters)

    def start(self) -> SystemMetricsSampler:
        """Take the baselines and start the sampling thread (once per sampler)."""
        if self._thread is not None:
            raise RuntimeError("This SystemMetricsSampler was already started.")
        self._take_baselines()
        self._thread = threading.Thread(target=self._run, name="cairn-system-metrics", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = STOP_TIMEOUT_SECONDS) -> None:
        """Stop sampling: returns as soon as a sample in progress (if any) is logged."""
        self._stopping.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def __enter__(self) -> SystemMetricsSampler:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _run(self) -> None:
        self._gpus = _Gpus()  # here, not in start(): NVML can take a while to initialise
        try:
            while not self._stopping.wait(self.interval):
                self._sample_and_log()
            self._sample_and_log()  # a last sample: a run shorter than the interval gets one
        finally:
            self._gpus.close()

    def _sample_and_log(self) -> None:
        step, self.next_step = self.next_step, self.next_step + 1
        try:
            self._log(self.sample(), step)
        except Exception as error:  # keep sampling: the store may come back
            if self.error is None:
                _logger.warning("Cairn could not log system metrics", exc_info=True)
            self.error = error

    def sample(self) -> dict[str, float]:
        """One reading of every metric now, keyed by its full `system/…` name."""
        values: dict[str, float] = {}
        _read(values, self._cpu_and_memory)
        _read(values, self._disk_usage)
        _read(values, self._disk_io)
        _read(values, self._network)
        if self._gpus is not None:
            self._gpus.sample(values)
        return {PREFIX + name: float(value) for name, value in values.items()}

    def _cpu_and_memory(self) -> dict[str, float]:
        memory = self._psutil.virtual_memory()
        return {
            "cpu_utilization_percentage": self._psutil.cpu_percent(interval=None),
            "system_memory_usage_megabytes": memory.used / MEGABYTE,
            "system_memory_usage_percentage": memory.used / memory.total * 100,
        }

    def _disk_usage(self) -> dict[str, float]:
        usage = self._psutil.disk_usage(os.path.abspath(os.sep))
        return {
            "disk_usage_megabytes": usage.used / MEGABYTE,
            "disk_usage_percentage": usage.percent,
            "disk_available_megabytes": usage.free / MEGABYTE,
        }

    def _disk_io(self) -> dict[str, float]:
        now = self._counters(self._psutil.disk_io_counters)
        if now is None or self._disk_start is None:
            return {}  # no /proc/diskstats, as in some containers
        return {
            "disk_read_megabytes": (now.read_bytes - self._disk_start.read_bytes) / MEGABYTE,
            "disk_write_megabytes": (now.write_bytes - self._disk_start.write_bytes) / MEGABYTE,
        }

    def _network(self) -> dict[str, float]:
        now = self._counters(self._psutil.net_io_counters)
        start = self._network_start
        if now is None or start is None:
            return {}
        return {
            "network_receive_megabytes": (now.bytes_recv - start.bytes_recv) / MEGABYTE,
            "network_transmit_megabytes": (now.bytes_sent - start.bytes_sent) / MEGABYTE,
        }

    @staticmethod
    def _counters(read: Callable[[], Any]) -> Any:
        try:
            return read()
        except Exception:  # psutil raises on machines without the counters
            return None
