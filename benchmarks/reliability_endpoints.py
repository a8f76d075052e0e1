"""The endpoints the issue-19 attack scenarios aim at: every route of `create_app` with a
valid request of its own (ids written as @KIND placeholders), and one of every object a
request can name, each carrying a secret marker.

The route list is walked from the application, so an endpoint added later without a
template here shows up as not covered instead of silently untried.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from reliability_http import Http, basic

PASSWORD = "reliability-password"
V2, V3, CAIRN = "/api/2.0/mlflow", "/api/3.0/mlflow", "/api/2.0/cairn"
PROXY = "/api/2.0/mlflow-artifacts/artifacts"
KINDS = ("EXP", "EXPNAME", "RUN", "MODEL", "RM", "TRACE", "ASSESS")

TRACE_INFO = {
    "trace_id": "@NEWTRACE",
    "trace_location": {"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": "@EXP"}},
    "request_time": "2025-01-02T03:04:05.678Z",
    "execution_duration": "0.250s",
    "state": "OK",
}
METRIC = {"key": "m", "value": 1.0, "timestamp": 1, "step": 0}
DATASET = {"dataset": {"name": "d", "digest": "x1", "source_type": "local", "source": "s"}}
# (method, path after the API prefix, fields): a valid request of Bob's, its ids as @KIND.
TEMPLATES: list[tuple[str, str, dict[str, Any]]] = [
    ("GET", "/experiments/get", {"experiment_id": "@EXP"}),
    ("GET", "/experiments/get-by-name", {"experiment_name": "@EXPNAME"}),
    ("POST", "/experiments/search", {"filter": "name LIKE '%'"}),
    ("GET", "/experiments/search", {"max_results": "100"}),
    ("POST", "/experiments/create", {"name": "bob-new-@NEW"}),
    ("GET", "/openapi.json", {}),
    ("POST", "/experiments/update", {"experiment_id": "@EXP", "new_name": "renamed-@NEW"}),
    (
        "POST",
        "/experiments/set-experiment-tag",
        {"experiment_id": "@EXP", "key": "k", "value": "v"},
    ),
    ("POST", "/experiments/delete-experiment-tag", {"experiment_id": "@EXP", "key": "secret"}),
    ("POST", "/experiments/delete", {"experiment_id": "@EXP"}),
    ("POST", "/experiments/restore", {"experiment_id": "@EXP"}),
    ("POST", "/runs/create", {"experiment_id": "@EXP"}),
    ("GET", "/runs/get", {"run_id": "@RUN"}),
    ("POST", "/runs/update", {"run_id": "@RUN", "status": "FAILED"}),
    ("POST", "/runs/delete", {"run_id": "@RUN"}),
    ("POST", "/runs/restore", {"run_id": "@RUN"}),
    ("POST", "/runs/search", {"experiment_ids": ["@EXP"]}),
    ("POST", "/runs/log-metric", {"run_id": "@RUN", **METRIC, "model_id": "@MODEL"}),
    ("POST", "/runs/log-parameter", {"run_id": "@RUN", "key": "p-@NEW", "value": "v"}),
    ("POST", "/runs/set-tag", {"run_id": "@RUN", "key": "k", "value": "v"}),
    ("POST", "/runs/delete-tag", {"run_id": "@RUN", "key": "secret"}),
    ("POST", "/runs/log-batch", {"run_id": "@RUN", "metrics": [{**METRIC, "model_id": "@MODEL"}]}),
    (
        "POST",
        "/runs/log-inputs",
        {"run_id": "@RUN", "datasets": [DATASET], "models": [{"model_id": "@MODEL"}]},
    ),
    ("POST", "/runs/log-dataset-outputs", {"run_id": "@RUN", "datasets": [DATASET]}),
    ("GET", "/metrics/get-history", {"run_id": "@RUN", "metric_key": "secret"}),
    ("GET", "/artifacts/list", {"run_id": "@RUN"}),
    ("POST", "/logged-models", {"experiment_id": "@EXP", "name": "x", "source_run_id": "@RUN"}),
    ("POST", "/logged-models/search", {"experiment_ids": ["@EXP"]}),
    ("GET", "/logged-models/@MODEL", {}),
    ("PATCH", "/logged-models/@MODEL", {}),
    ("PATCH", "/logged-models/@MODEL/tags", {"tags": [{"key": "k", "value": "v"}]}),
    ("DELETE", "/logged-models/@MODEL/tags/secret", {}),
    ("POST", "/logged-models/@MODEL/params", {"params": [{"key": "p-@NEW", "value": "v"}]}),
    ("GET", "/logged-models/@MODEL/artifacts/directories", {}),
    ("DELETE", "/logged-models/@MODEL", {}),
    ("POST", "/runs/outputs", {"run_id": "@RUN", "models": [{"model_id": "@MODEL", "step": 0}]}),
    ("POST", "/registered-models/create", {"name": "@RM"}),
    ("GET", "/registered-models/get", {"name": "@RM"}),
    ("POST", "/registered-models/rename", {"name": "@RM", "new_name": "stolen-@NEW"}),
    ("PATCH", "/registered-models/update", {"name": "@RM", "description": "changed"}),
    ("GET", "/registered-models/search", {"max_results": "100"}),
    ("POST", "/registered-models/get-latest-versions", {"name": "@RM"}),
    ("GET", "/registered-models/get-latest-versions", {"name": "@RM"}),
    ("POST", "/registered-models/set-tag", {"name": "@RM", "key": "k", "value": "v"}),
    ("DELETE", "/registered-models/delete-tag", {"name": "@RM", "key": "secret"}),
    ("POST", "/registered-models/alias", {"name": "@RM", "alias": "a@NEW", "version": "1"}),
    ("GET", "/registered-models/alias", {"name": "@RM", "alias": "champion"}),
    ("DELETE", "/registered-models/alias", {"name": "@RM", "alias": "champion"}),
    (
        "POST",
        "/model-versions/create",
        {"name": "@RM", "source": "runs:/@RUN/model", "run_id": "@RUN", "model_id": "@MODEL"},
    ),
    ("GET", "/model-versions/get", {"name": "@RM", "version": "1"}),
    ("PATCH", "/model-versions/update", {"name": "@RM", "version": "1", "description": "x"}),
    (
        "POST",
        "/model-versions/transition-stage",
        {"name": "@RM", "version": "1", "stage": "Archived", "archive_existing_versions": False},
    ),
    ("GET", "/model-versions/search", {"filter": "name='@RM'"}),
    ("GET", "/model-versions/get-download-uri", {"name": "@RM", "version": "1"}),
    ("POST", "/model-versions/set-tag", {"name": "@RM", "version": "1", "key": "k", "value": "v"}),
    ("DELETE", "/model-versions/delete-tag", {"name": "@RM", "version": "1", "key": "secret"}),
    ("GET", "/model-versions/history", {"name": "@RM", "version": "1"}),
    ("DELETE", "/model-versions/delete", {"name": "@RM", "version": "1"}),
    ("DELETE", "/registered-models/delete", {"name": "@RM"}),
    ("POST", "/traces", {"trace": {"trace_info": TRACE_INFO}}),
    ("GET", "/traces", {"experiment_ids": ["@EXP"]}),
    ("GET", "/traces/get", {"trace_id": "@TRACE"}),
    ("GET", "/traces/batchGet", {"trace_ids": ["@TRACE"]}),
    ("POST", "/traces/batchGetInfos", {"trace_ids": ["@TRACE"]}),
    (
        "POST",
        "/traces/search",
        {
            "locations": [
                {"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": "@EXP"}}
            ]
        },
    ),
    ("POST", "/traces/link-to-run", {"trace_ids": ["@TRACE"], "run_id": "@RUN"}),
    ("GET", "/traces/@TRACE", {}),
    ("PATCH", "/traces/@TRACE", {"trace": {"trace_info": {"state": "ERROR"}}}),
    ("GET", "/traces/@TRACE/info", {}),
    ("PATCH", "/traces/@TRACE/tags", {"key": "k", "value": "v"}),
    ("DELETE", "/traces/@TRACE/tags", {"key": "secret"}),
    (
        "POST",
        "/traces/@TRACE/assessments",
        {"assessment": {"assessment_name": "good", "feedback": {"value": True}}},
    ),
    ("GET", "/traces/@TRACE/assessments/@ASSESS", {}),
    (
        "PATCH",
        "/traces/@TRACE/assessments/@ASSESS",
        {"assessment": {"rationale": "sure"}, "update_mask": "rationale"},
    ),
    ("DELETE", "/traces/@TRACE/assessments/@ASSESS", {}),
    ("POST", "/traces/delete-traces", {"experiment_id": "@EXP", "request_ids": ["@TRACE"]}),
    ("GET", "/storage", {"experiment_ids": ["@EXP"]}),
    ("GET", "/metrics/downsampled", {"run_ids": ["@RUN"], "key": "secret"}),
    ("GET", "/metrics/grouped", {"experiment_ids": ["@EXP"], "key": "secret"}),
    ("GET", "/metrics/export", {"run_id": "@RUN", "key": "secret"}),
    ("GET", "/experiments/run-counts", {"experiment_ids": ["@EXP"]}),
    ("GET", "/registered-models/permission", {"name": "@RM"}),
    ("GET", "/model-versions/mlmodel", {"name": "@RM", "version": "1"}),
    ("GET", "/model-versions/artifact", {"name": "@RM", "version": "1", "path": "MLmodel"}),
    ("GET", "/artifacts/get", {"run_id": "@RUN", "path": "secret.txt"}),
    ("POST", "/runs/purge", {"run_id": "@RUN"}),
    ("POST", "/gc", {"experiment_ids": ["@EXP"]}),
]
for _name in ("experiment", "runs-of", "run", "metric-points", "datasets", "model-outputs"):
    TEMPLATES.append(("POST", f"/import/{_name}", {"experiment_id": "@EXP", "run_id": "@RUN"}))
for _name in ("finish-run", "logged-model", "registered-model", "model-version"):
    TEMPLATES.append(("POST", f"/import/{_name}", {"run_id": "@RUN", "name": "@RM"}))
# The artifact proxy and multipart uploads: ids in the artifact path.
PROXY_TEMPLATES = [
    ("GET", f"{PROXY}/@EXP/@RUN/artifacts/secret.txt", {}),
    ("PUT", f"{PROXY}/@EXP/@RUN/artifacts/planted.txt", {}),
    ("DELETE", f"{PROXY}/@EXP/@RUN/artifacts/secret.txt", {}),
    ("GET", PROXY, {"path": "@EXP/@RUN/artifacts"}),
    ("POST", "/api/2.0/mlflow-artifacts/mpu/create/@EXP/@RUN/artifacts", {"path": "big.bin"}),
    ("GET", f"{PROXY}/@EXP/models/@MODEL/artifacts/MLmodel", {}),
]


@dataclass
class Owner:
    user: str
    ids: dict[str, str]
    marker: str

    @property
    def headers(self) -> dict[str, str]:
        return basic(self.user, PASSWORD)


def objects(http: Http, user: str, letter: str, token: str) -> Owner:
    """One of everything in a new experiment, each carrying a secret marker; `user` is who
    will send requests with these ids."""
    marker = f"SECRET-{letter}-{token}"
    name = f"{letter}-experiment-{token}"
    experiment_id = http.ok("POST", f"{V2}/experiments/create", {"name": name})["experiment_id"]
    tag = {"experiment_id": experiment_id, "key": "secret", "value": marker}
    http.ok("POST", f"{V2}/experiments/set-experiment-tag", tag)
    run = http.ok("POST", f"{V2}/runs/create", {"experiment_id": experiment_id})
    run_id = run["run"]["info"]["run_id"]
    batch = {
        "run_id": run_id,
        "metrics": [{**METRIC, "key": "secret"}],
        "params": [{"key": "secret", "value": marker}],
        "tags": [{"key": "secret", "value": marker}],
    }
    http.ok("POST", f"{V2}/runs/log-batch", batch)
    http.ok("POST", f"{V2}/runs/log-inputs", {"run_id": run_id, "datasets": [DATASET]})
    files = f"{PROXY}/{experiment_id}/{run_id}/artifacts"
    http.ok("PUT", f"{files}/secret.txt", marker.encode())
    http.ok("PUT", f"{files}/model/MLmodel", f"flavors: {{}}\nsecret: {marker}\n".encode())
    model = http.ok(
        "POST",
        f"{V2}/logged-models",
        {"experiment_id": experiment_id, "name": f"m-{letter}", "source_run_id": run_id},
    )
    model_id = model["model"]["info"]["model_id"]
    tags = {"tags": [{"key": "secret", "value": marker}]}
    http.ok("PATCH", f"{V2}/logged-models/{model_id}/tags", tags)
    registered = f"{letter}-model-{token}"
    http.ok("POST", f"{V2}/registered-models/create", {"name": registered})
    http.ok("POST", f"{V2}/registered-models/set-tag", {"name": registered, **tags["tags"][0]})
    version = {"name": registered, "source": f"runs:/{run_id}/model", "run_id": run_id}
    http.ok("POST", f"{V2}/model-versions/create", version)
    alias = {"name": registered, "alias": "champion", "version": "1"}
    http.ok("POST", f"{V2}/registered-models/alias", alias)
    info = fill(TRACE_INFO, {"NEWTRACE": f"tr-{secrets.token_hex(16)}", "EXP": experiment_id})
    trace = http.ok("POST", f"{V3}/traces", {"trace": {"trace_info": info}})
    trace_id = trace["trace"]["trace_info"]["trace_id"]
    http.ok("PATCH", f"{V3}/traces/{trace_id}/tags", {"key": "secret", "value": marker})
    feedback = {"assessment_name": "secret", "feedback": {"value": marker}}
    made = http.ok("POST", f"{V3}/traces/{trace_id}/assessments", {"assessment": feedback})
    ids = {
        "EXP": experiment_id,
        "EXPNAME": name,
        "RUN": run_id,
        "MODEL": model_id,
        "RM": registered,
        "TRACE": trace_id,
        "ASSESS": made["assessment"]["assessment_id"],
    }
    return Owner(user, ids, marker)


def endpoints() -> tuple[list[tuple[str, str, dict[str, Any]]], list[str]]:
    """The templates of every endpoint the application serves (by walking `create_app`'s
    routes under one prefix each), and the endpoints that have none."""
    import tempfile

    from cairn.server.app import create_app
    from cairn.server.routes import EndpointRoute
    from cairn.store.sql.tracking import SqlTrackingStore

    with tempfile.TemporaryDirectory() as scratch:
        store = SqlTrackingStore(f"sqlite:///{scratch}/routes.db", f"{scratch}/artifacts")
        app = create_app(store, f"{scratch}/artifacts")
        served: dict[tuple[str, str], str] = {}
        for route in app.routes:
            if not isinstance(route, EndpointRoute) or route.path.startswith("/ajax-api"):
                continue
            prefix, _, rest = split(route.path)
            for method in route.accesses:
                served.setdefault((method, generic(rest)), prefix)
        store.engine.dispose()
    covered, seen = [], set()
    for method, path, fields in TEMPLATES:
        key = (method, generic(path))
        if key in served and key not in seen:
            seen.add(key)
            covered.append((method, served[key] + path, fields))
    uncovered = sorted(f"{m} {p}" for (m, p) in served if (m, p) not in seen)
    return covered + PROXY_TEMPLATES, uncovered


def split(path: str) -> tuple[str, str, str]:
    for prefix in (V2, V3, CAIRN):
        if path.startswith(prefix + "/"):
            return prefix, "", path[len(prefix) :]
    return "", "", path


def generic(path: str) -> str:
    """A template path and a route path alike: each id segment as `{}`."""

    path = re.sub(r"\{[^}]+\}", "{}", path)
    return re.sub(r"@[A-Z]+", "{}", path).replace("/tags/secret", "/tags/{}")


def fill(value: Any, ids: dict[str, str]) -> Any:
    """`value` with each @KIND replaced by `ids[KIND]` (inside strings too)."""
    if isinstance(value, dict):
        return {k: fill(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [fill(v, ids) for v in value]
    if isinstance(value, str):
        for kind in sorted(ids, key=len, reverse=True):
            value = value.replace(f"@{kind}", ids[kind])
    return value


def flat(fields: dict[str, Any]) -> Iterator[tuple[str, str]]:
    for key, value in fields.items():
        for item in value if isinstance(value, list) else [value]:
            yield key, item if isinstance(item, str) else json.dumps(item)
