"""`cairn models serve` and `cairn models predict` as users run them: live processes on
127.0.0.1, real scikit-learn models saved with `cairn.sklearn.save_model`."""

from __future__ import annotations

import http.client
import io
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest

import cairn
from conftest import ScoringServer, Trained, start_scoring_server
from local_processes import CLI


def _split(trained: Trained) -> bytes:
    return json.dumps({"dataframe_split": trained.frame.to_dict(orient="split")}).encode()


def test_served_predictions_equal_the_models_own_in_every_format(
    scoring_server: ScoringServer, trained: Trained
) -> None:
    frame = trained.frame
    parquet = io.BytesIO()
    frame.to_parquet(parquet)
    payloads = [
        (_split(trained), "application/json"),
        (
            json.dumps({"dataframe_records": frame.to_dict(orient="records")}).encode(),
            "application/json",
        ),
        (json.dumps({"instances": frame.to_dict(orient="records")}).encode(), "application/json"),
        (
            json.dumps({"inputs": frame.to_dict(orient="list")}).encode(),
            "application/json; charset=utf-8",
        ),
        (frame.to_csv(index=False).encode(), "text/csv"),
        (parquet.getvalue(), "application/vnd.apache.parquet"),
    ]
    for body, content_type in payloads:
        reply = scoring_server.invoke(body, content_type)
        assert (reply.status, content_type) == (200, content_type), reply.body
        assert reply.json() == {"predictions": trained.expected}


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b'{"inputs": {"f0": [1.0]}, "instances": [{"f0": 1.0}]}',
        b'{"dataframe_split": {"data": [[1.0, 2.0, 3.0, 4.0], [1.0, 2.0]]}}',
        b'{"dataframe_records": [{"f0": "x", "f1": 1.0, "f2": 1.0, "f3": 1.0}]}',
    ],
    ids=["bad json", "two formats", "ragged rows", "wrong type"],
)
def test_served_malformed_payloads_are_400(scoring_server: ScoringServer, body: bytes) -> None:
    reply = scoring_server.invoke(body)
    assert reply.status == 400
    assert reply.json()["error_code"] == "BAD_REQUEST"


def test_served_unknown_content_type_is_415(scoring_server: ScoringServer) -> None:
    reply = scoring_server.invoke(b"<rows/>", "application/xml")
    assert reply.status == 415


def test_served_ping_and_version(scoring_server: ScoringServer) -> None:
    ping = scoring_server.request("GET", "/ping")
    version = scoring_server.request("GET", "/version")
    assert (ping.status, ping.body) == (200, b"\n")
    assert (version.status, version.body.decode()) == (200, cairn.__version__)


def test_serve_with_two_workers_answers_fast_on_a_kept_alive_connection(
    sklearn_model_dir: Path, trained: Trained, tmp_path: Path
) -> None:
    """Each worker loads the model; TCP_NODELAY is on (stock uvicorn with several workers
    leaves Nagle on, and every reply on a reused connection then waits ~40 ms)."""
    server = start_scoring_server(sklearn_model_dir, tmp_path, "--workers", "2")
    try:
        workers = Path(f"/proc/{server.process.pid}/task/{server.process.pid}/children")
        assert len(workers.read_text().split()) >= 2  # uvicorn's supervisor and its workers
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        timings = []
        for _ in range(25):
            start = time.perf_counter()
            connection.request(
                "POST", "/invocations", _split(trained), {"Content-Type": "application/json"}
            )
            response = connection.getresponse()
            assert json.loads(response.read()) == {"predictions": trained.expected}
            timings.append(time.perf_counter() - start)
        connection.close()
    finally:
        server.stop()
    assert statistics.median(timings) < 0.025, timings


def _cairn(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", CLI, *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def _predict(model_dir: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`cairn models predict -m <model_dir> <args>`."""
    return _cairn("models", "predict", "-m", str(model_dir), *args, cwd=cwd)


def test_serve_with_a_missing_model_fails_with_the_reason(tmp_path: Path) -> None:
    result = _cairn("models", "serve", "-m", str(tmp_path / "nothing"), cwd=tmp_path)
    assert result.returncode != 0
    assert "Cannot load model" in result.stderr


def test_predict_scores_a_csv_file(
    sklearn_model_dir: Path, trained: Trained, tmp_path: Path
) -> None:
    trained.frame.to_csv(tmp_path / "rows.csv", index=False)
    result = _predict(sklearn_model_dir, "-i", "rows.csv", "-o", "out.json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    written = json.loads((tmp_path / "out.json").read_text())
    assert written == {"predictions": trained.expected}


def test_predict_reads_a_json_payload_and_writes_stdout(
    sklearn_model_dir: Path, trained: Trained, tmp_path: Path
) -> None:
    (tmp_path / "payload.json").write_bytes(_split(trained))
    result = _predict(sklearn_model_dir, "-i", "payload.json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"predictions": trained.expected}


def test_predict_reports_a_bad_input_without_writing(
    sklearn_model_dir: Path, tmp_path: Path
) -> None:
    (tmp_path / "rows.csv").write_text("f0,f1\n1,2\n")
    result = _predict(sklearn_model_dir, "-i", "rows.csv", "-o", "out.json", cwd=tmp_path)
    assert result.returncode == 1
    assert "missing columns" in result.stderr
    assert not (tmp_path / "out.json").exists()
