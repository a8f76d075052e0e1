"""Cairn's quickstart: train a small model, track the run, then search and compare runs.

Run it from any folder; with nothing configured, data goes to ./cairn-data/.
"""

from __future__ import annotations

import math
import os
import random

import numpy

import cairn

NEXT_STEPS = """
Stored in {store} (cairn.db and artifacts/). Next:
  cairn ui          browse, chart and compare these runs at http://127.0.0.1:5000
  cairn storage     what each experiment holds
The README shows autologging, the model registry, a shared server and moving in from MLflow."""


def train(max_depth: int, learning_rate: float, epochs: int = 50) -> dict[str, float]:
    """A stand-in for real training: a loss curve shaped by the hyperparameters."""
    rng = random.Random(max_depth * 1000 + int(learning_rate * 1000))
    loss = 1.0
    for step in range(epochs):
        loss = loss * (1 - learning_rate) + rng.uniform(0, 0.01) / max_depth
        cairn.log_metric("loss", loss, step=step)
        if step % 10 == 0:  # an image series: the UI shows it with a step slider
            cairn.log_image(error_map(loss, step), key="error_map", step=step)
    accuracy = 1 - loss / 2 - abs(max_depth - 5) / 50
    return {"accuracy": accuracy, "f1": accuracy - 0.02, "auc": min(1.0, accuracy + 0.03)}


def error_map(loss: float, step: int) -> numpy.ndarray:
    """A stand-in for a per-pixel error image: a blob of error that shrinks as the loss falls."""
    y, x = numpy.mgrid[0:32, 0:32] / 31
    blob = numpy.exp(-((x - 0.5) ** 2 + (y - 0.5) ** 2) / (0.01 + 0.3 * loss))
    return numpy.stack([blob, 0.2 + 0.5 * blob * (1 - loss), 1 - blob], axis=-1)


def main() -> None:
    cairn.set_experiment("churn")
    for max_depth in (3, 5, 8):
        for learning_rate in (0.05, 0.1):
            with cairn.start_run(run_name=f"depth{max_depth}-lr{learning_rate}") as run:
                cairn.log_param("max_depth", max_depth)
                cairn.log_params(
                    {"scaler": "StandardScaler", "test_size": 0.2, "learning_rate": learning_rate}
                )
                cairn.set_tag("author", "quickstart")
                cairn.set_tags({"model": "gradient-boosting"})
                scores = train(max_depth, learning_rate)
                cairn.log_metrics(scores)
                cairn.log_dict(
                    {"max_depth": max_depth, "features": ["tenure", "plan"]}, "config.yaml"
                )
                cairn.log_table(
                    {"metric": list(scores), "value": list(scores.values())}, "eval/scores.json"
                )
                cairn.log_text(f"depth {max_depth}, lr {learning_rate}\n", "notes.md")
                print(f"run {run.info.run_id}: accuracy={scores['accuracy']:.3f}")

    best = cairn.search_runs(
        experiment_names=["churn"],
        filter_string="metrics.accuracy > 0.5 and params.max_depth = '5'",
        order_by=["metrics.f1 DESC"],
    )
    columns = {"params.learning_rate": "lr", "metrics.accuracy": "accuracy", "metrics.f1": "f1"}
    table = best.rename(columns=columns)[["run_id", *columns.values()]]
    print("runs with max_depth 5, best F1 first:")
    print(table.to_string(index=False, float_format="{:.3f}".format))  # fits 80 columns
    best_id = best["run_id"][0]
    history = cairn.Client().get_metric_history(best_id, "loss")
    print(f"best run: {len(history)} loss points, final loss {history[-1].value:.4f}")
    assert not math.isnan(history[-1].value)
    print("its config:", cairn.artifacts.load_dict(f"runs:/{best_id}/config.yaml"))
    files = [f.path for f in cairn.artifacts.list_artifacts(run_id=best_id)]
    print("its artifacts:", files)  # with source/ and environment/, captured at start_run
    print(NEXT_STEPS.format(store=os.path.abspath("cairn-data")))


if __name__ == "__main__":
    main()
