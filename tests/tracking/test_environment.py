"""The environment files: this venv's real packages, and real metadata dirs in tmp_path."""

from __future__ import annotations

import os
import platform
import re
from importlib import metadata
from pathlib import Path

import pytest

from cairn.tracking import environment as envmod

PIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*==\S+$")


def test_requirements_pin_this_venvs_packages() -> None:
    lines = envmod.requirements_txt().splitlines()
    for name in ("SQLAlchemy", "pandas", "pytest", "cairn-tracker"):
        assert f"{metadata.metadata(name)['Name']}=={metadata.version(name)}" in lines
    assert len(lines) > 20


def test_requirements_are_pins_sorted_case_insensitively_without_duplicates() -> None:
    lines = envmod.requirements_txt().splitlines()
    assert all(PIN.match(line) for line in lines), [x for x in lines if not PIN.match(x)]
    names = [line.split("==")[0] for line in lines]
    canonical = [re.sub(r"[-_.]+", "-", name).lower() for name in names]
    assert canonical == sorted(canonical)
    assert len(set(canonical)) == len(canonical)


def _dist_info(root: Path, directory: str, name: str, version: str | None) -> None:
    path = root / directory
    path.mkdir(parents=True)
    headers = f"Metadata-Version: 2.1\nName: {name}\n"
    if version is not None:
        headers += f"Version: {version}\n"
    filename = "PKG-INFO" if directory.endswith(".egg-info") else "METADATA"
    (path / filename).write_text(headers + "\nA long description.\nVersion: 9.9\n")


def test_first_distribution_on_sys_path_wins_and_broken_ones_are_left_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    _dist_info(first, "demo_pkg-2.0.dist-info", "demo_pkg", "2.0")
    _dist_info(second, "Demo.Pkg-1.0.dist-info", "Demo.Pkg", "1.0")
    _dist_info(first, "legacy_pkg.egg-info", "legacy-pkg", "0.3")
    _dist_info(first, "broken-0.dist-info", "broken-pkg", None)
    _dist_info(first, "Zzz_Last-1.dist-info", "Zzz_Last", "1")
    _dist_info(first, "aaa_first-1.dist-info", "aaa_first", "1")
    monkeypatch.syspath_prepend(str(second))
    monkeypatch.syspath_prepend(str(first))
    versions = envmod.installed_versions()
    assert versions["demo_pkg"] == "2.0" and "Demo.Pkg" not in versions
    assert versions["legacy-pkg"] == "0.3"
    assert "broken-pkg" not in versions
    lines = envmod.requirements_txt(versions).splitlines()
    assert lines[0] == "aaa_first==1" and lines[-1] == "Zzz_Last==1"


def test_python_env_yaml_parses_and_describes_this_machine() -> None:
    import yaml

    parsed = yaml.safe_load(envmod.python_env_yaml())
    assert parsed["python"] == platform.python_version()
    assert parsed["python_implementation"] == platform.python_implementation()
    assert parsed["dependencies"] == ["-r requirements.txt"]
    assert f"pip=={metadata.version('pip')}" in parsed["build_dependencies"]
    assert parsed["platform"] == {
        "system": platform.system(),
        "release": platform.release(),
        "machine": platform.machine(),
    }
    assert parsed["cpu_count"] == os.cpu_count()
    assert parsed["memory_total_megabytes"] > 0
    assert parsed.get("gpus", []) == envmod.gpu_names()


def test_python_env_yaml_is_plain_block_yaml_without_pyyaml() -> None:
    """The hand-written form: `key: value` lines, two-space nesting, quoted strings."""
    text = envmod.python_env_yaml()
    assert re.search(rf'^python: "{re.escape(platform.python_version())}"$', text, re.M)
    assert re.search(r"^cpu_count: \d+$", text, re.M)
    assert re.search(r"^platform:\n  system: \".+\"\n  release: \".*\"\n  machine: ", text, re.M)
    for line in text.splitlines():
        assert re.match(r'^(#.*|[a-z_]+:( .+)?|  [a-z_]+: .+|  - ".*")$', line), line


def test_total_memory_matches_the_kernel() -> None:
    memory = envmod.total_memory_megabytes()
    assert memory is not None and memory > 0
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        found = re.search(r"^MemTotal:\s+(\d+)", meminfo.read_text(), re.M)
        assert found is not None
        assert memory == pytest.approx(int(found.group(1)) * 1024 / 1e6)


def test_gpu_names_never_fail() -> None:
    names = envmod.gpu_names()
    assert isinstance(names, list) and all(isinstance(name, str) and name for name in names)


def test_environment_artifacts_are_the_two_files() -> None:
    artifacts = envmod.environment_artifacts()
    assert set(artifacts) == {envmod.REQUIREMENTS_ARTIFACT, envmod.PYTHON_ENV_ARTIFACT}
    assert artifacts[envmod.REQUIREMENTS_ARTIFACT].decode() == envmod.requirements_txt()


def test_capture_environment_flag_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    for raw, expected in [("", True), ("yes", True), ("false", False), ("0", False)]:
        monkeypatch.setenv("CAIRN_CAPTURE_ENVIRONMENT", raw)
        assert envmod.capture_environment_enabled() is expected


def test_a_distribution_installed_mid_process_is_pinned_in_the_next_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Installed versions are remembered between models (and runs), until sys.path or one
    of its folders changes."""
    from cairn.models import requirements
    from cairn.tracking import environment

    folder = tmp_path / "site"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    assert requirements.pinned(["cairn-demo-dist"]) == ["cairn-demo-dist"]
    assert "cairn-demo-dist" not in environment.installed_versions()

    info = folder / "cairn_demo_dist-1.5.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: cairn-demo-dist\nVersion: 1.5\n")
    os.utime(folder, ns=(1, 1))  # a new mtime, however coarse the file system's clock

    assert requirements.pinned(["cairn-demo-dist"]) == ["cairn-demo-dist==1.5"]
    assert environment.installed_versions()["cairn-demo-dist"] == "1.5"
