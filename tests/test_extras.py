"""A missing optional dependency says, in one line, which extra of cairn-tracker to install.

Each case runs in a subprocess whose meta path refuses the library's top-level package as
if it were not installed (the venv has every extra, so uninstalling is not an option), and
calls what a user would: the Python API or the `cairn` command.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cairn.extras import MissingExtraError, install_hint, require
from local_processes import CLI, free_port

# Put before the code a subprocess runs: `sys.argv[1]` lists the packages to refuse at once;
# the code may call `uninstall([...])` later, once what it needs first is loaded.
_UNINSTALL = """
import sys

class _Uninstalled:
    def __init__(self, names):
        self.names = frozenset(names)

    def find_spec(self, fullname, path=None, target=None):
        if fullname.partition(".")[0] in self.names:
            raise ModuleNotFoundError(f"No module named {fullname!r}", name=fullname)
        return None

def uninstall(names):
    for loaded in [m for m in sys.modules if m.partition(".")[0] in names]:
        del sys.modules[loaded]
    sys.meta_path.insert(0, _Uninstalled(names))

uninstall([name for name in sys.argv.pop(1).split(",") if name])
"""

# Report what the Python API raised as one line: its type, then its message.
_REPORT = """
try:
    main()
except ImportError as error:
    print(type(error).__name__, "|", error)
"""


def _without(
    missing: str, code: str, *args: str, cwd: Path, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-c", _UNINSTALL + code, missing, *args]
    return subprocess.run(command, capture_output=True, text=True, cwd=cwd, timeout=timeout)


def _cairn_without(missing: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return _without(missing, CLI, *args, cwd=cwd)


def _server_without(
    missing: str, store_uri: str, *options: str, cwd: Path
) -> subprocess.CompletedProcess[str]:
    """`cairn server` on a free port with `missing` uninstalled: it should not start."""
    port = str(free_port())
    return _cairn_without(
        missing, "server", "--port", port, "--backend-store-uri", store_uri, *options, cwd=cwd
    )


def _one_line_naming(output: str, extra: str) -> str:
    """The one line of `output` that names `extra`; there must be exactly one, and no
    traceback."""
    assert "Traceback" not in output, output
    lines = [line for line in output.splitlines() if install_hint(extra) in line]
    assert len(lines) == 1, output
    return lines[0]


def test_require_returns_the_module_or_names_the_extra() -> None:
    assert require("json", extra="none", needed_for="this test").dumps([]) == "[]"
    with pytest.raises(MissingExtraError) as raised:
        require("cairn_no_such_module.sub", extra="s3", needed_for="This test")
    assert isinstance(raised.value, ModuleNotFoundError)
    assert raised.value.extra == "s3"
    assert str(raised.value) == (
        "This test needs cairn_no_such_module, which is not installed: "
        "pip install 'cairn-tracker[s3]'"
    )


def test_a_module_that_is_there_but_fails_keeps_its_own_error(tmp_path: Path) -> None:
    (tmp_path / "cairn_broken_module.py").write_text("import cairn_absent_dependency\n")
    code = (
        "from cairn.extras import require\n"
        "try:\n"
        "    require('cairn_broken_module', extra='x', needed_for='y')\n"
        "except ImportError as error:\n"
        "    print(type(error).__name__, error.name)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path
    )
    assert done.stdout.strip() == "ModuleNotFoundError cairn_absent_dependency", done.stderr


def test_sklearn_log_model_without_cloudpickle(tmp_path: Path) -> None:
    # joblib (so scikit-learn) now needs cloudpickle itself, but older releases vendored it:
    # refuse it once the model is trained, as an install with such a joblib would.
    code = (
        "import cairn, cairn.sklearn\n"
        "from sklearn.linear_model import LinearRegression\n"
        "model = LinearRegression().fit([[0], [1]], [0, 1])\n"
        "uninstall(['cloudpickle'])\n"
        "cairn.set_tracking_uri('sqlite:///' + sys.argv[1])\n"
        "def main():\n"
        "    with cairn.start_run():\n"
        "        cairn.sklearn.log_model(model, name='m')\n"
    ) + _REPORT
    done = _without("", code, str(tmp_path / "cairn.db"), cwd=tmp_path)
    assert done.stdout == (
        "MissingExtraError | cairn.sklearn.save_model/log_model needs cloudpickle, which is "
        "not installed: pip install 'cairn-tracker[sklearn]'\n"
    ), done.stderr


def test_system_metrics_without_psutil(tmp_path: Path) -> None:
    code = (
        "import cairn\n"
        "cairn.set_tracking_uri('sqlite:///' + sys.argv[1])\n"
        "def main():\n"
        "    with cairn.start_run(log_system_metrics=True):\n"
        "        pass\n"
    ) + _REPORT
    done = _without("psutil", code, str(tmp_path / "cairn.db"), cwd=tmp_path)
    assert done.stdout.count("\n") == 1, done.stderr
    assert done.stdout.startswith("MissingExtraError | Logging system metrics needs psutil")
    assert _one_line_naming(done.stdout, "system-metrics")


def test_system_metrics_without_pynvml_only_leave_out_gpus(tmp_path: Path) -> None:
    code = (
        "import logging\n"
        "logging.basicConfig(level=logging.DEBUG, format='%(levelname)s %(message)s')\n"
        "from cairn.tracking.system_metrics import SystemMetricsSampler\n"
        "samples = []\n"
        "sampler = SystemMetricsSampler(lambda m, s: samples.append(m), interval=60)\n"
        "sampler.start()\n"
        "sampler.stop()\n"
        "print(sorted(k for k in samples[0] if 'gpu' in k), 'system/cpu_utilization_percentage'"
        " in samples[0])\n"
    )
    done = _without("pynvml", code, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "[] True\n"
    assert "DEBUG No GPU metrics: GPU metrics needs pynvml" in done.stderr
    assert _one_line_naming(done.stderr, "system-metrics")


def test_s3_artifact_root_without_boto3(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'cairn.db'}"
    destination = ("--artifacts-destination", "s3://bucket/prefix")
    done = _server_without("boto3,botocore", store, *destination, cwd=tmp_path)
    assert done.returncode == 2, done.stderr  # click's code for a bad option value
    line = _one_line_naming(done.stderr, "s3")
    assert "S3 artifact storage needs boto3, which is not installed" in line


def test_postgres_uri_without_psycopg(tmp_path: Path) -> None:
    store = "postgresql://cairn:secret@127.0.0.1:5432/cairn"
    done = _server_without("psycopg", store, cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert done.stderr == (
        "Error: A postgresql store needs psycopg, which is not installed: "
        "pip install 'cairn-tracker[postgres]'\n"
    )


def test_db_upgrade_of_a_mysql_uri_without_pymysql(tmp_path: Path) -> None:
    done = _cairn_without("pymysql", "db", "upgrade", "mysql://u@127.0.0.1:3306/db", cwd=tmp_path)
    assert done.returncode == 1
    assert "A mysql store needs pymysql" in _one_line_naming(done.stderr, "mysql")


def test_server_auth_without_argon2(tmp_path: Path) -> None:
    done = _server_without("argon2", f"sqlite:///{tmp_path / 'cairn.db'}", "--auth", cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert done.stderr == (
        "Error: cairn server --auth needs argon2, which is not installed: "
        "pip install 'cairn-tracker[auth]'\n"
    )


def test_parquet_scoring_without_pyarrow(tmp_path: Path) -> None:
    code = (
        "from cairn.models.serving.app import score\n"
        "from cairn.models.serving.payloads import content_types\n"
        "class Model:\n"
        "    def predict(self, data, params=None):\n"
        "        return [0] * len(data)\n"
        "reply = score(Model(), b'PAR1', 'application/vnd.apache.parquet')\n"
        "print(reply.status_code, bytes(reply.body).decode())\n"
        "print(content_types())\n"
    )
    done = _without("pyarrow", code, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "415 Scoring Parquet input needs pyarrow, which is not installed: "
        "pip install 'cairn-tracker[parquet]'",
        "('application/json', 'text/csv')",
    ]


def test_an_onnx_model_without_onnx(tmp_path: Path) -> None:
    code = "import cairn.onnx\ndef main():\n    cairn.onnx.save_model(object(), sys.argv[1])\n"
    done = _without("onnx", code + _REPORT, str(tmp_path / "m"), cwd=tmp_path)
    assert done.stdout == (
        "MissingExtraError | cairn.onnx.save_model needs onnx, which is not installed: "
        "pip install 'cairn-tracker[onnx]'\n"
    ), done.stderr


def test_no_hint_names_the_old_distribution() -> None:
    source = Path(__file__).parents[1] / "src" / "cairn"
    stale = [
        str(path)
        for path in source.rglob("*.py")
        if "pip install 'cairn[" in path.read_text(encoding="utf-8")
    ]
    assert stale == []
