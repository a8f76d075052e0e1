"""What environment produced a run: installed packages and the machine, as two small files.

Everything here is read in-process (importlib.metadata, platform, /proc) so it is cheap enough
for the capture thread that `run_context.start_capture` runs beside the training code; only the
optional GPU probe may call `nvidia-smi`, with a timeout. Nothing here raises on a machine that
lacks a piece of information: the piece is left out.

`python_env.yaml` begins with the keys of MLflow's own python_env.yaml (`python`,
`build_dependencies`, `dependencies`) so it reads familiarly; the machine keys follow.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable
from importlib import metadata

from cairn import env

REQUIREMENTS_ARTIFACT = "environment/requirements.txt"
PYTHON_ENV_ARTIFACT = "environment/python_env.yaml"
BUILD_TOOLS = ("pip", "setuptools", "wheel")
GPU_PROBE_TIMEOUT_SECONDS = 5.0
_SEPARATORS = re.compile(r"[-_.]+")


def capture_environment_enabled() -> bool:
    """`CAIRN_CAPTURE_ENVIRONMENT`: store the two environment files with each run (default on)."""
    return env.capture_environment()


# (sys_path_state(), versions by name, versions by canonical name): the one cache of what is
# installed, for run environments and model requirements alike.
_installed: tuple[tuple[tuple[str, int], ...], dict[str, str], dict[str, str]] | None = None


def installed_versions() -> dict[str, str]:
    """Each installed distribution's name and version; the first found on sys.path wins, as
    it is the one `import` would load."""
    return dict(_remembered()[0])


def installed_version(name: str) -> str | None:
    """One distribution's installed version, None when it is not installed (as
    `importlib.metadata.version`, from the same remembered list)."""
    return _remembered()[1].get(_canonical(name))


def _remembered() -> tuple[dict[str, str], dict[str, str]]:
    """What is installed, read again only when `sys_path_state()` changed: a process that
    starts a run and logs a model every few seconds (autologged fits) would otherwise read
    every distribution's metadata (~8 ms) each time."""
    global _installed
    state = sys_path_state()
    cached = _installed
    if cached is None or cached[0] != state:
        versions = _read_installed_versions()
        canonical = {_canonical(name): version for name, version in versions.items()}
        cached = _installed = (state, versions, canonical)
    return cached[1], cached[2]


def sys_path_state() -> tuple[tuple[str, int], ...]:
    """sys.path with each folder's modification time: installing, upgrading or removing a
    distribution adds or removes a `*.dist-info` folder, which changes its parent's."""
    state = []
    for entry in sys.path:
        try:
            state.append((entry, os.stat(entry or ".").st_mtime_ns))
        except OSError:
            state.append((entry, -1))
    return tuple(state)


def _read_installed_versions() -> dict[str, str]:
    found: dict[str, tuple[str, str]] = {}
    for dist in metadata.distributions():
        name, version = _name_and_version(dist)
        if not name or not version:
            continue  # broken metadata (a half-removed install): nothing useful to record
        found.setdefault(_canonical(name), (name, version))
    return dict(found.values())


def _name_and_version(dist: metadata.Distribution) -> tuple[str | None, str | None]:
    """Read the two headers directly: ten times faster than `dist.metadata`, which parses
    the whole file (long descriptions included) as an e-mail message."""
    name = version = None
    text = dist.read_text("METADATA") or dist.read_text("PKG-INFO") or ""
    for line in text.splitlines():
        if not line:
            break  # end of the headers
        if line.startswith("Name:"):
            name = line[5:].strip()
        elif line.startswith("Version:"):
            version = line[8:].strip()
        if name and version:
            return name, version
    # An unusual layout: let importlib parse it. With the importlib_metadata backport loaded
    # (mlflow loads it), a missing Version raises KeyError instead of giving None.
    try:
        return dist.metadata["Name"], dist.version
    except KeyError:
        return None, None


def requirements_txt(versions: dict[str, str] | None = None) -> str:
    """`name==version` lines for every installed distribution, sorted case-insensitively."""
    pins = installed_versions() if versions is None else versions
    lines = [f"{name}=={pins[name]}" for name in sorted(pins, key=_canonical)]
    return "".join(line + "\n" for line in lines)


def python_env_yaml(versions: dict[str, str] | None = None) -> str:
    """The interpreter and machine, as YAML written by hand (no PyYAML needed)."""
    pins = installed_versions() if versions is None else versions
    by_name = {_canonical(name): f"{name}=={version}" for name, version in pins.items()}
    lines = ["# Written by Cairn: the interpreter and machine that produced this run."]
    lines.append(f"python: {_scalar(platform.python_version())}")
    lines.append(f"python_implementation: {_scalar(platform.python_implementation())}")
    lines += _list("build_dependencies", [by_name[t] for t in BUILD_TOOLS if t in by_name])
    lines += _list("dependencies", ["-r requirements.txt"])
    lines.append("platform:")
    for key, value in _platform().items():
        lines.append(f"  {key}: {_scalar(value)}")
    lines.append(f"cpu_count: {os.cpu_count() or 0}")
    memory = total_memory_megabytes()
    if memory is not None:
        lines.append(f"memory_total_megabytes: {memory:.1f}")
    lines += _list("gpus", gpu_names())
    return "".join(line + "\n" for line in lines)


def environment_artifacts() -> dict[str, bytes]:
    """Both files, keyed by their path inside the run's artifacts."""
    versions = installed_versions()
    return {
        REQUIREMENTS_ARTIFACT: requirements_txt(versions).encode(),
        PYTHON_ENV_ARTIFACT: python_env_yaml(versions).encode(),
    }


def total_memory_megabytes() -> float | None:
    """Physical memory in MB (10**6 bytes, as MLflow's system metrics), or None if unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024 / 1e6  # the kernel's "kB" is KiB
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e6
    except (AttributeError, ValueError, OSError):
        return None  # Windows, or an unusual libc


def gpu_names() -> list[str]:
    """NVIDIA GPU model names via pynvml when importable, else nvidia-smi; [] when neither."""
    try:
        return _nvml_gpu_names()
    except Exception:  # ImportError, or NVML present without a driver
        pass
    try:
        return _nvidia_smi_gpu_names()
    except (OSError, subprocess.SubprocessError):
        return []


def _nvml_gpu_names() -> list[str]:
    import pynvml

    pynvml.nvmlInit()
    try:
        names = []
        for index in range(pynvml.nvmlDeviceGetCount()):
            name = pynvml.nvmlDeviceGetName(pynvml.nvmlDeviceGetHandleByIndex(index))
            names.append(name.decode() if isinstance(name, bytes) else str(name))
        return names
    finally:
        pynvml.nvmlShutdown()


def _nvidia_smi_gpu_names() -> list[str]:
    executable = shutil.which("nvidia-smi")
    if executable is None:
        return []
    done = subprocess.run(
        [executable, "--query-gpu=name", "--format=csv,noheader"],
        capture_output=True,
        text=True,
        timeout=GPU_PROBE_TIMEOUT_SECONDS,
        check=True,
    )
    return [line.strip() for line in done.stdout.splitlines() if line.strip()]


def _platform() -> dict[str, str]:
    uname = platform.uname()
    return {"system": uname.system, "release": uname.release, "machine": uname.machine}


def _canonical(name: str) -> str:
    """PEP 503 normalisation: `Foo_Bar` and `foo-bar` are one distribution."""
    return _SEPARATORS.sub("-", name).lower()


def _scalar(value: str) -> str:
    """A YAML scalar that always reads back as this exact string (JSON strings are YAML)."""
    return json.dumps(value)


def _list(key: str, items: Iterable[str]) -> list[str]:
    values = list(items)
    if not values:
        return []
    return [f"{key}:"] + [f"  - {_scalar(item)}" for item in values]
