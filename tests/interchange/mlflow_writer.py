"""Fill an MLflow store with the real mlflow client, as a user's history would look:
`python mlflow_writer.py TRACKING_URI [--more]`.

Run in a subprocess (mlflow keeps process-wide state). It writes two experiments (one
deleted later), runs with params, tags, long histories with NaN and ±inf, a nested run, a
failed run, a deleted run, a run left RUNNING, a dataset input, text and binary artifacts, a
logged scikit-learn model registered as version 1, a second version, a stage, an alias,
tags and descriptions. `--more` adds one run to an existing store (the incremental case).
"""

from __future__ import annotations

import os
import sys

import mlflow
import numpy as np
import pandas as pd
from mlflow import MlflowClient
from mlflow.entities import Metric
from sklearn.linear_model import LinearRegression

STEPS = 2_500
T0 = 1_700_000_000_000


def history(run_id: str, client: MlflowClient, key: str, steps: int) -> None:
    points = [Metric(key, 1.0 / (s + 1), T0 + 10 * s, s) for s in range(steps)]
    for start in range(0, steps, 1000):
        client.log_batch(run_id, metrics=points[start : start + 1000])


def fill(client: MlflowClient) -> None:
    vision = mlflow.set_experiment("vision").experiment_id
    client.set_experiment_tag(vision, "team", "cv")
    with mlflow.start_run(run_name="baseline", description="first try") as run:
        run_id = run.info.run_id
        mlflow.log_params({"lr": "0.01", "depth": "5", "optimizer": "adam"})
        mlflow.set_tags({"stage": "dev", "nested/key": "v"})
        history(run_id, client, "loss", STEPS)
        history(run_id, client, "val/acc", 300)
        for step, value in enumerate([float("nan"), float("inf"), float("-inf"), 0.5]):
            mlflow.log_metric("odd", value, step=step, timestamp=T0 + step)
        frame = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [2.0, 4.0, 6.0]})
        mlflow.log_input(mlflow.data.from_pandas(frame, name="train"), context="training")
        mlflow.log_text("hello from mlflow", "notes/readme.txt")
        mlflow.log_dict({"a": 1}, "config.json")
        with open("blob.bin", "wb") as out:
            out.write(os.urandom(200_000))
        mlflow.log_artifact("blob.bin", "data")
        model = LinearRegression().fit(frame[["x"]], frame["y"])
        mlflow.sklearn.log_model(
            model, name="model", registered_model_name="reg", input_example=frame[["x"]]
        )
        with mlflow.start_run(run_name="child", nested=True):
            mlflow.log_metric("child_metric", 3.0, step=7)
    with mlflow.start_run(run_name="broken") as failed:
        mlflow.log_param("seed", "1")
        mlflow.log_metric("loss", 9.0)
        mlflow.end_run("FAILED")
    with mlflow.start_run(run_name="thrown-away") as thrown:
        mlflow.log_metric("loss", 1.0)
    client.delete_run(thrown.info.run_id)
    live = client.create_run(vision, run_name="still-running", start_time=T0)
    client.log_metric(live.info.run_id, "progress", 0.25, timestamp=T0, step=1)

    old = client.create_experiment("old-project", tags={"archived": "yes"})
    with mlflow.start_run(experiment_id=old, run_name="ancient"):
        mlflow.log_metric("score", 0.1, step=0)
    client.delete_experiment(old)

    client.update_registered_model("reg", description="a regressor")
    client.set_registered_model_tag("reg", "owner", "ml-team")
    second = client.create_model_version("reg", f"runs:/{failed.info.run_id}/model")
    client.transition_model_version_stage("reg", "1", "Production")
    client.set_registered_model_alias("reg", "champion", second.version)
    client.set_model_version_tag("reg", "1", "validated", "true")
    client.update_model_version("reg", "1", description="the first")


def more(client: MlflowClient) -> None:
    mlflow.set_experiment("vision")
    with mlflow.start_run(run_name="later") as run:
        mlflow.log_param("lr", "0.001")
        history(run.info.run_id, client, "loss", 500)


if __name__ == "__main__":
    mlflow.set_tracking_uri(sys.argv[1])
    np.random.seed(0)
    (more if "--more" in sys.argv else fill)(MlflowClient())
