"""One training client of the kill -9 test, run as its own process: it logs a metric history
through nginx until the stop file appears, then prints what it logged as JSON.

`python scale_out_client.py URL MODE INDEX EXPERIMENT_ID FOLDER` with MODE one of
`fluent` (cairn.log_metrics with a flush every 10 steps: the batcher and its journal),
`client` (cairn.Client.log_batch, retried by the HTTP session) or `mlflow` (MlflowClient,
retried by MLflow's own session). Progress (steps logged) is written to FOLDER/progress-INDEX
after every batch (0 once its run exists; then it waits for a line on stdin, so that all
clients start logging together), so the test knows they are mid-run; the process exits
non-zero if any exception reaches this loop.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

BATCH_STEPS = 10
KEYS = ("loss", "accuracy")


def value(index: int, key: str, step: int) -> float:
    """Every point's value, known to the test too: the point itself can be checked."""
    return index * 1_000_000 + step + (0.25 if key == "loss" else 0.5)


def timestamp(step: int) -> int:
    return 1_700_000_000_000 + step


def main(url: str, mode: str, index: int, experiment_id: str, folder: Path) -> None:
    progress = folder / f"progress-{index}"
    stop = folder / "stop"
    log: Any = {"fluent": _fluent, "client": _cairn_client, "mlflow": _mlflow}[mode]
    run_id, steps = log(url, index, experiment_id, progress, stop)
    print(json.dumps({"index": index, "mode": mode, "run_id": run_id, "steps": steps}))


def _fluent(url: str, index: int, experiment_id: str, progress: Path, stop: Path) -> Any:
    import cairn

    cairn.set_tracking_uri(url)
    with cairn.start_run(experiment_id=experiment_id) as run:
        cairn.log_param("client", index)
        steps = log_until_stopped(
            index, progress, stop, lambda points: _fluent_batch(cairn, points)
        )
        cairn.flush()
    return run.info.run_id, steps


def _fluent_batch(cairn: Any, points: list[tuple[str, float, int]]) -> None:
    for key, v, step in points:
        cairn.log_metric(key, v, step=step, timestamp=timestamp(step))
    cairn.flush()


def _cairn_client(url: str, index: int, experiment_id: str, progress: Path, stop: Path) -> Any:
    import cairn
    from cairn.entities import Metric

    return _explicit(cairn.Client(url), Metric, index, experiment_id, progress, stop)


def _mlflow(url: str, index: int, experiment_id: str, progress: Path, stop: Path) -> Any:
    from mlflow import MlflowClient
    from mlflow.entities import Metric

    return _explicit(MlflowClient(url), Metric, index, experiment_id, progress, stop)


def _explicit(
    client: Any, metric: Any, index: int, experiment_id: str, progress: Path, stop: Path
) -> Any:
    """Cairn's Client and MLflow's MlflowClient have the same methods."""
    run_id = client.create_run(experiment_id).info.run_id
    client.log_param(run_id, "client", index)

    def send(points: list[tuple[str, float, int]]) -> None:
        metrics = [metric(key, v, timestamp(step), step) for key, v, step in points]
        client.log_batch(run_id, metrics=metrics)

    steps = log_until_stopped(index, progress, stop, send)
    client.set_terminated(run_id)
    return run_id, steps


def log_until_stopped(index: int, progress: Path, stop: Path, send: Any) -> int:
    """Once the run exists, say so (progress 0) and wait for the test's go (a line on stdin,
    sent when every client is ready); then send every batch in turn. The steps logged."""
    progress.write_text("0")
    sys.stdin.readline()
    step = 0
    while not stop.exists():
        send([(k, value(index, k, s), s) for s in range(step, step + BATCH_STEPS) for k in KEYS])
        step += BATCH_STEPS
        progress.write_text(str(step))
    return step


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], Path(sys.argv[5]))
