"""What a parameter search (`GridSearchCV`, `RandomizedSearchCV`) logs besides its own fit.

The search's run gets the best candidate's params as `best_<param>`, its mean cross-validated
score as `best_cv_score`, the refitted best estimator as the model `best_estimator`, and the
whole `cv_results_` as `cv_results.csv`. The best `max_tuning_runs` candidates (by
`rank_test_score`, or the first `rank_test_<scorer>` of a multi-metric search) become child
runs, as MLflow makes them: tagged `mlflow.parentRunId`, with the seed estimator's params
updated by the candidate's, the mean and std of its test scores and fit times and its rank as
metrics, started at the search's start and ended now. Candidates were fit inside the search,
so these runs are written from its results, not while they trained.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from numbers import Real
from typing import Any

from cairn.autologging import training_data
from cairn.autologging.runs import AUTOLOGGING_TAG
from cairn.autologging.settings import AutologSettings
from cairn.entities import Metric, Param
from cairn.sklearn.autologging import INTEGRATION
from cairn.sklearn.estimator_info import estimator_tags, param_values
from cairn.tracking import fluent
from cairn.tracking.fluent import PARENT_RUN_TAG

log = logging.getLogger("cairn.autolog")

RESULTS_FILE = "cv_results.csv"
_NOT_METRICS = ("param", "split")  # per-parameter columns, and per-fold scores


def is_parameter_search(estimator: Any) -> bool:
    from sklearn.model_selection import GridSearchCV, RandomizedSearchCV

    return isinstance(estimator, (GridSearchCV, RandomizedSearchCV))


def best_params(search: Any) -> dict[str, str]:
    """`best_<param>` for each param of the best candidate."""
    found = getattr(search, "best_params_", None) or {}
    return param_values({f"best_{name}": value for name, value in found.items()})


def log_best(search: Any, model_id: str | None) -> None:
    """The best candidate's params and score, into the search's (active) run."""
    if hasattr(search, "best_params_"):
        fluent.log_params(best_params(search))
    if hasattr(search, "best_score_"):
        fluent.log_metrics({"best_cv_score": float(search.best_score_)}, model_id=model_id)


def log_results_file(search: Any) -> None:
    import pandas as pd

    from cairn.tracking.fluent_artifacts import log_artifact

    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, RESULTS_FILE)
        pd.DataFrame(search.cv_results_).to_csv(path, index=False)
        log_artifact(path)


def log_child_runs(settings: AutologSettings, search: Any, features: Any, labels: Any) -> int:
    """One finished child run of the active run per best candidate; returns how many."""
    import pandas as pd

    parent = fluent.active_run()
    if parent is None or not hasattr(search, "cv_results_"):
        return 0
    results = pd.DataFrame(search.cv_results_)
    limit = settings.option("max_tuning_runs", 5)
    if limit is not None:
        results = results.nsmallest(limit, _rank_column(results))
    seed = search.estimator
    base = seed.get_params(deep=not is_parameter_search(seed))
    tags = {
        **settings.extra_tags,
        AUTOLOGGING_TAG: INTEGRATION,
        PARENT_RUN_TAG: parent.info.run_id,
        **estimator_tags(seed),
    }
    dataset = training_data.dataset(features, labels) if settings.log_datasets else None
    client = fluent.current_client()
    ended = int(time.time() * 1000)
    for _, row in results.iterrows():
        child = client.create_run(
            parent.info.experiment_id, start_time=parent.info.start_time, tags=tags
        )
        run_id = child.info.run_id
        params = param_values({**base, **row.get("params", {})})
        metrics = {
            str(key): float(value)
            for key, value in row.items()
            if isinstance(value, Real) and not str(key).startswith(_NOT_METRICS)
        }
        client.log_batch(
            run_id,
            metrics=[Metric(key, value, ended) for key, value in metrics.items()],
            params=[Param(key, value) for key, value in params.items()],
        )
        if dataset is not None:
            client.log_input(run_id, dataset, context="train")
        client.set_terminated(run_id, end_time=ended)
    log.info(
        "Logged %d of %d parameter search candidates as child runs.",
        len(results),
        len(search.cv_results_["params"]),
    )
    return len(results)


def _rank_column(results: Any) -> str:
    if "rank_test_score" in results.columns:
        return "rank_test_score"
    for column in results.columns:
        if str(column).startswith("rank_test_"):
            return str(column)
    raise ValueError("The search's cv_results_ has no rank_test_* column.")
