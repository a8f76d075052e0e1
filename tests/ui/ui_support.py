"""A live `cairn server` with seeded runs, and a headless Chromium page pointed at it.

Chromium is Debian's (/usr/bin/chromium), driven by Playwright's Python package. Without
either the tests skip with the reason, or fail under CAIRN_REQUIRE_BROWSER=1 (CI).
Screenshots of each page land in test-artifacts/ui/<page>.png.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

import cairn
from cairn.entities import Dataset, DatasetInput, InputTag, LoggedModelOutput
from local_processes import answers_health, cairn_server_command, free_port

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "ui"
XSS_NAME = "<img src=x onerror=alert(1)>"
START_SECONDS = 60.0


def _browser_missing() -> str | None:
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright Python package is missing (pip install playwright)"
    return None


@dataclass
class Seeded:
    url: str
    client: cairn.Client
    experiment_id: str
    run_ids: dict[str, str]


def _popen(port: int, folder: Path, log: Any, *extra: str) -> subprocess.Popen[bytes]:
    database = f"sqlite:///{folder / 'cairn.db'}"
    command = cairn_server_command(port, database, str(folder / "artifacts"), *extra)
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=folder)


def start_server(folder: Path, *extra: str) -> tuple[subprocess.Popen[bytes], str]:
    """`cairn server` over `folder/cairn.db` (with `extra` options such as --auth)."""
    port = free_port()
    with open(folder / "server.log", "wb") as log:
        process = _popen(port, folder, log, *extra)

    for _ in range(int(START_SECONDS / 0.1)):
        if answers_health(port):
            return process, f"http://127.0.0.1:{port}"
        try:
            process.wait(0.1)
            break
        except subprocess.TimeoutExpired:
            continue
    process.kill()
    raise RuntimeError((folder / "server.log").read_text())


def _upload(url: str, path: str, body: bytes) -> None:
    """Put a file through the server's artifact proxy (as a tracking client would)."""
    connection = http.client.HTTPConnection(url.removeprefix("http://"), timeout=30)
    connection.request("PUT", f"/api/2.0/mlflow-artifacts/artifacts/{path.lstrip('/')}", body=body)
    assert connection.getresponse().status == 200
    connection.close()


def _seed(url: str) -> Seeded:
    client = cairn.Client(tracking_uri=url, registry_uri=url)
    experiment_id = client.create_experiment("ui-demo")
    ids: dict[str, str] = {}
    settings = [(0.1, "adam"), (0.01, "adam"), (0.001, "sgd"), (0.05, "sgd")]
    for i, (lr, optimizer) in enumerate(settings):
        run = client.create_run(experiment_id, run_name=f"run-{i}")
        rid = run.info.run_id
        ids[f"run-{i}"] = rid
        client.log_param(rid, "lr", lr)
        client.log_param(rid, "optimizer", optimizer)
        client.log_param(rid, "epochs", 10)
        for step in range(30):
            client.log_metric(rid, "loss", (1.0 + i) / (step + 1), step=step)
        client.log_metric(rid, "accuracy", 0.5 + 0.1 * i)
        client.set_tag(rid, "team", "vision" if i % 2 else "nlp")
        client.set_terminated(rid)
    first = ids["run-0"]
    root = client.get_run(first).info.artifact_uri.removeprefix("mlflow-artifacts:")
    _upload(url, f"{root}/config.yaml", b"hello: world\n")
    _upload(url, f"{root}/data/table.csv", b"a,b\n1,2\n3,4\n")
    logged_table = {"columns": ["name", "score"], "data": [["<b>x</b>", 0.5], ["y", None]]}
    _upload(url, f"{root}/data/scores.json", json.dumps(logged_table).encode())
    child = client.create_run(experiment_id, run_name="child", tags={"mlflow.parentRunId": first})
    ids["child"] = child.info.run_id
    xss = client.create_run(experiment_id, run_name=XSS_NAME)
    client.set_tag(xss.info.run_id, "note", XSS_NAME)
    client.log_param(xss.info.run_id, "optimizer", XSS_NAME)
    ids["xss"] = xss.info.run_id
    _seed_lineage(url, client, experiment_id, first, root)
    client.create_registered_model("classifier")
    client.create_model_version("classifier", f"runs:/{first}/model", run_id=first)
    return Seeded(url, client, experiment_id, ids)


def require_browser() -> None:
    """Skip (or fail under CAIRN_REQUIRE_BROWSER=1) without Chromium and Playwright."""
    reason = _browser_missing()
    if reason is not None:
        if os.environ.get("CAIRN_REQUIRE_BROWSER") == "1":
            pytest.fail(f"{reason} (CAIRN_REQUIRE_BROWSER=1: a skip here is a failure)")
        pytest.skip(reason)


def users_cli(database: Path, *args: str, stdin: str | None = None) -> str:
    """`cairn users …` on the server's database; its output."""
    done = subprocess.run(
        [sys.executable, "-c", "from cairn.cli import cli; cli()", "users", *args]
        + ["--backend-store-uri", f"sqlite:///{database}"],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


GIT_COMMIT = "0123456789abcdef0123456789abcdef01234567"


def _seed_lineage(
    url: str, client: cairn.Client, experiment_id: str, run_id: str, root: str
) -> None:
    """run-0's source (a commit and the uncommitted diff), datasets in and out, a model."""
    client.set_tag(run_id, "mlflow.source.git.commit", GIT_COMMIT)
    _upload(url, f"{root}/source/uncommitted.diff", b"--- a/train.py\n+++ b/train.py\n+lr = 0.1\n")
    train = Dataset("train-set", "d1g357", "local", '{"uri": "/data/train.csv"}')
    client.log_inputs(run_id, [DatasetInput(train, (InputTag("mlflow.data.context", "training"),))])
    predictions = Dataset("predictions", "pr3d", "run_artifact", '{"uri": "runs:/x/p.csv"}')
    output = DatasetInput(predictions, (InputTag("mlflow.data.context", "predictions"),))
    client.store.log_dataset_outputs(run_id, [output])
    model = client.create_logged_model(experiment_id, name="resnet-small", model_type="classifier")
    client.log_outputs(run_id, [LoggedModelOutput(model.model_id, step=3)])


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    require_browser()
    process, url = start_server(tmp_path_factory.mktemp("ui-server"))
    try:
        yield _seed(url)
    finally:
        process.terminate()
        process.wait(15)


@pytest.fixture(scope="module")
def browser(request: pytest.FixtureRequest) -> Iterator[Any]:
    """Headless Chromium; a test module may pass switches as the indirect parameter."""
    require_browser()
    from playwright.sync_api import sync_playwright

    switches = list(getattr(request, "param", ()))
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=switches
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    dialogs: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.errors = errors
    page.dialogs = dialogs
    yield page
    context.close()


def screenshot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def query_of(url: str) -> dict[str, str]:
    """The query of a request's URL, one value per name."""
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


QUICKSTART = Path(__file__).resolve().parents[2] / "examples" / "quickstart.py"


def run_quickstart(folder: Path) -> Path:
    """The README's first command: the quickstart logs into `folder`/cairn-data (no server)."""
    done = subprocess.run(
        [sys.executable, str(QUICKSTART)], cwd=folder, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return folder / "cairn-data"


@contextmanager
def local_cairn_ui(folder: Path) -> Iterator[str]:
    """`cairn ui` started in `folder`, as the README says, serving its ./cairn-data; yields
    its URL and stops it afterwards."""
    from local_processes import CLI

    port = free_port()
    with open(folder / "ui.log", "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-c", CLI, "ui", "--port", str(port)],
            cwd=folder,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        for _ in range(int(START_SECONDS / 0.1)):
            if answers_health(port) or process.poll() is not None:
                break
            try:
                process.wait(0.1)  # not a sleep: returns at once if the UI died
            except subprocess.TimeoutExpired:
                pass
        assert answers_health(port), (folder / "ui.log").read_text()
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(15)
