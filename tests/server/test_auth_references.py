"""Under `--auth` every id a call names is checked, not only the one its `Access.source`
says: a metric's logged model, a run's outputs, a new model's source run, a parent run, a
trace's run (cairn.server.references), besides the ids the sources already covered (a model
version's run, model and source; traces linked or read in a batch).

The world: experiment A, which `editor` cannot see, and B, which `editor` may edit; a run,
a logged model and a trace in each. Each row of the table names one endpoint and one id in
its body or query that points into A; the row is refused for `editor` (403
PERMISSION_DENIED, nothing written), is allowed once `editor` holds the row's permission
on A, and an unknown id is answered as the handler answers it. In process: the ASGI app
over a real SQLite store, as the server runs it.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from asgi_support import Answer, asgi_call
from starlette.applications import Starlette

from cairn.entities import RunTag
from cairn.server.access import EDIT, READ, Reference
from cairn.server.app import create_app
from cairn.server.auth_store import AuthStore
from cairn.server.routes import EndpointRoute
from cairn.store.sql.tracking import SqlTrackingStore

API = "/api/2.0/mlflow"
API3 = "/api/3.0/mlflow"
CAIRN = "/ajax-api/2.0/cairn"
PASSWORD = "correct-horse-battery"
UNKNOWN_RUN = "f" * 32
UNKNOWN_MODEL = "m-" + "f" * 32


@dataclass
class World:
    app: Starlette
    auth: AuthStore
    store: SqlTrackingStore
    a: str  # experiment A: nobody's but the admin's
    b: str  # experiment B: `editor` may edit it
    run_a: str
    run_b: str
    model_a: str
    model_b: str
    trace_a: str
    trace_b: str

    def call(self, method: str, path: str, payload: Any = None, user: str = "editor") -> Answer:
        return asgi_call(self.app, method, path, payload, user=user)

    def grant(self, permission: str) -> None:
        self.auth.grant("editor", self.a, permission)

    def foreign(self, kind: str) -> str:
        return {"run": self.run_a, "model": self.model_a, "trace": self.trace_a}[kind]


def _ok(reply: Answer) -> Answer:
    assert reply.status == 200, reply.body
    return reply


def _v2_trace(world: World, experiment_id: str) -> str:
    body = {"experiment_id": experiment_id, "timestamp_ms": 1}
    made = _ok(world.call("POST", API + "/traces", body, user="admin"))
    return str(made.json()["trace_info"]["request_id"])


@pytest.fixture
def world(sqlite_store: SqlTrackingStore, tmp_path: Path) -> Iterator[World]:
    auth = AuthStore(sqlite_store.engine)
    auth.create_user("admin", PASSWORD, is_admin=True)
    auth.create_user("editor", PASSWORD)
    app = create_app(sqlite_store, str(tmp_path / "artifacts"), auth=auth, allowed_hosts=["*"])
    a, b = sqlite_store.create_experiment("A"), sqlite_store.create_experiment("B")
    auth.grant("editor", b, "EDIT")
    runs = [sqlite_store.create_run(e, "admin", 1, [], None).info.run_id for e in (a, b)]
    models = [sqlite_store.create_logged_model(e, name="m").model_id for e in (a, b)]
    draft = World(app, auth, sqlite_store, a, b, *runs, *models, "", "")
    draft.trace_a, draft.trace_b = _v2_trace(draft, a), _v2_trace(draft, b)
    yield draft


# -- the table: one endpoint, one id pointing into A ---------------------------------------

Body = Callable[[World, str], dict[str, Any]]
PARENT = "mlflow.parentRunId"


@dataclass(frozen=True)
class Row:
    name: str
    method: str
    path: str  # after the API prefix
    body: Body  # the call, naming `foreign` where the id goes
    kind: str  # what the id names in A: run, model or trace
    permission: str  # what the caller needs on A for the call to pass
    reference: Reference | None  # None: checked by the endpoint's source, as before
    unknown_status: int = 404  # an id that names nothing

    @property
    def prefix(self) -> str:
        return API3 if self.path.startswith("/traces") and self.method == "POST" else API


def _metric(run: str, **extra: Any) -> dict[str, Any]:
    return {"run_id": run, "key": "loss", "value": 0.5, "timestamp": 1, "step": 0, **extra}


def _v3_trace(w: World, run: str) -> dict[str, Any]:
    info = {
        "trace_id": f"tr-{uuid.uuid4().hex}",
        "trace_location": {
            "type": "MLFLOW_EXPERIMENT",
            "mlflow_experiment": {"experiment_id": w.b},
        },
        "request_time": "2025-01-02T03:04:05.678Z",
        "state": "OK",
        "trace_metadata": {"mlflow.sourceRun": run},
    }
    return {"trace": {"trace_info": info}}


REFERENCES = [
    Row(
        "log-batch metric into A's model",
        "POST",
        "/runs/log-batch",
        lambda w, x: {"run_id": w.run_b, "metrics": [_metric(w.run_b, model_id=x)]},
        "model",
        EDIT,
        Reference.BATCH_METRIC_MODELS,
    ),
    Row(
        "log-metric into A's model",
        "POST",
        "/runs/log-metric",
        lambda w, x: _metric(w.run_b, model_id=x),
        "model",
        EDIT,
        Reference.METRIC_MODEL,
    ),
    Row(
        "log-batch tags a parent run in A",
        "POST",
        "/runs/log-batch",
        lambda w, x: {"run_id": w.run_b, "tags": [{"key": PARENT, "value": x}]},
        "run",
        EDIT,
        Reference.PARENT_RUN,
        unknown_status=200,
    ),
    Row(
        "set-tag names a parent run in A",
        "POST",
        "/runs/set-tag",
        lambda w, x: {"run_id": w.run_b, "key": PARENT, "value": x},
        "run",
        EDIT,
        Reference.PARENT_RUN,
        unknown_status=200,
    ),
    Row(
        "runs/create under a parent run in A",
        "POST",
        "/runs/create",
        lambda w, x: {"experiment_id": w.b, "tags": [{"key": PARENT, "value": x}]},
        "run",
        EDIT,
        Reference.PARENT_RUN,
        unknown_status=200,
    ),
    Row(
        "runs/outputs names A's model",
        "POST",
        "/runs/outputs",
        lambda w, x: {"run_id": w.run_b, "models": [{"model_id": x, "step": 0}]},
        "model",
        READ,
        Reference.OUTPUT_MODELS,
    ),
    Row(
        "logged-models/create from a source run in A",
        "POST",
        "/logged-models",
        lambda w, x: {"experiment_id": w.b, "source_run_id": x},
        "run",
        READ,
        Reference.SOURCE_RUN,
    ),
    Row(
        "StartTraceV3 links a run in A",
        "POST",
        "/traces",
        _v3_trace,
        "run",
        EDIT,
        Reference.TRACE_RUN,
        unknown_status=200,
    ),
    Row(
        "v2 StartTrace links a run in A",
        "POST",
        "/traces",
        lambda w, x: {
            "experiment_id": w.b,
            "timestamp_ms": 1,
            "request_metadata": [{"key": "mlflow.sourceRun", "value": x}],
        },
        "run",
        EDIT,
        Reference.TRACE_RUN,
        unknown_status=200,
    ),
    Row(
        "v2 EndTrace links a run in A",
        "PATCH",
        "/traces/{trace_b}",
        lambda w, x: {
            "timestamp_ms": 2,
            "status": "OK",
            "request_metadata": [{"key": "mlflow.sourceRun", "value": x}],
        },
        "run",
        EDIT,
        Reference.TRACE_RUN,
        unknown_status=200,
    ),
]

# Ids checked by the endpoint's own source before this change: kept in the table so that
# the audit of every id a body names is one list.
SOURCES = [
    Row(
        "model version from a run in A",
        "POST",
        "/model-versions/create",
        lambda w, x: {"name": "mine", "source": f"runs:/{x}/model", "run_id": x},
        "run",
        READ,
        None,
    ),
    Row(
        "model version of A's logged model",
        "POST",
        "/model-versions/create",
        lambda w, x: {"name": "mine", "source": f"models:/{x}", "model_id": x},
        "model",
        READ,
        None,
    ),
    Row(
        "link-to-run with a trace of A",
        "POST",
        "/traces/link-to-run",
        lambda w, x: {"run_id": w.run_b, "trace_ids": [x]},
        "trace",
        EDIT,
        None,
        unknown_status=200,
    ),
]


def _request(world: World, row: Row, foreign: str) -> Answer:
    path = row.prefix + row.path.format(trace_b=world.trace_b)
    return world.call(row.method, path, row.body(world, foreign))


@pytest.mark.parametrize("row", REFERENCES + SOURCES, ids=lambda r: r.name)
def test_an_id_into_an_experiment_the_caller_cannot_reach_is_refused(
    world: World, row: Row
) -> None:
    if row.name.startswith("model version"):
        _ok(world.call("POST", API + "/registered-models/create", {"name": "mine"}))
    refused = _request(world, row, world.foreign(row.kind))
    assert refused.status == 403, refused.body
    assert refused.error_code == "PERMISSION_DENIED"
    assert f"experiment '{world.a}'" in refused.json()["message"]
    if row.permission == EDIT:  # naming is not enough where the call writes
        world.grant(READ)
        assert _request(world, row, world.foreign(row.kind)).status == 403
    world.grant(row.permission)
    _ok(_request(world, row, world.foreign(row.kind)))


@pytest.mark.parametrize("row", REFERENCES, ids=lambda r: r.name)
def test_an_unknown_id_is_answered_as_the_handler_answers_it(world: World, row: Row) -> None:
    unknown = UNKNOWN_MODEL if row.kind == "model" else UNKNOWN_RUN
    reply = _request(world, row, unknown)
    assert reply.status == row.unknown_status, reply.body
    if row.unknown_status == 404:
        assert reply.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_the_table_lists_every_declared_reference(world: World) -> None:
    """A reference declared on an endpoint and missing here would go untested."""
    declared = set()
    for route in world.app.routes:
        if isinstance(route, EndpointRoute):
            path = re.sub(r"^/(ajax-)?api/[0-9.]+/(mlflow|cairn)", "", route.path)
            for method, access in route.accesses.items():
                declared |= {(method, path, r.reference, r.permission) for r in access.refers}
    tested = {
        (r.method, r.path.replace("{trace_b}", "{trace_id}"), r.reference, r.permission)
        for r in REFERENCES
    }
    assert declared == tested


def test_log_batch_into_a_model_of_another_experiment_writes_nothing(world: World) -> None:
    """The bypass of issue 19: EDIT on B, a run of B, the model_id of A's model."""
    batch = {"run_id": world.run_b, "metrics": [_metric(world.run_b, model_id=world.model_a)]}
    refused = world.call("POST", API + "/runs/log-batch", batch)
    assert refused.status == 403 and refused.error_code == "PERMISSION_DENIED"
    assert list(world.store.get_logged_model(world.model_a).metrics) == []
    assert world.store.get_run(world.run_b).data.metrics == {}
    own = {"run_id": world.run_b, "metrics": [_metric(world.run_b, model_id=world.model_b)]}
    _ok(world.call("POST", API + "/runs/log-batch", own))
    assert [m.key for m in world.store.get_logged_model(world.model_b).metrics] == ["loss"]


def test_references_are_not_checked_for_administrators(world: World) -> None:
    outputs = {"run_id": world.run_b, "models": [{"model_id": world.model_a, "step": 0}]}
    _ok(world.call("POST", API + "/runs/outputs", outputs, user="admin"))
    tagged = {"run_id": world.run_b, "key": PARENT, "value": world.run_a}
    _ok(world.call("POST", API + "/runs/set-tag", tagged, user="admin"))


def test_scoped_ids_reach_nothing_outside_the_checked_experiments(world: World) -> None:
    """Calls whose further ids only narrow an answer within checked experiments: a trace of
    A among B's traces to delete, runs of A among B's storage figures or metric groups."""
    deleted = world.call(
        "POST",
        API + "/traces/delete-traces",
        {"experiment_id": world.b, "request_ids": [world.trace_a]},
    )
    assert _ok(deleted).json()["traces_deleted"] == 0
    assert world.call("GET", API3 + f"/traces/{world.trace_a}", user="admin").status == 200
    world.store.log_batch(world.run_a, tags=[RunTag("t", "v")])
    query = {"experiment_ids": world.b, "run_ids": f"{world.run_a},{world.run_b}"}
    storage = _ok(world.call("GET", CAIRN + "/storage", query)).json()
    assert world.run_a not in str(storage)
    grouped = world.call("GET", CAIRN + "/metrics/grouped", {**query, "key": "loss"})
    assert grouped.status == 404 and world.run_a in grouped.json()["message"]


# -- the artifact proxy: a folder is an experiment's, named in ASCII digits ----------------

PROXY = "/api/2.0/mlflow-artifacts/artifacts"
ARABIC_INDIC_TWO = "\u0662"  # passes str.isdigit and int(), names no experiment's folder


@pytest.mark.parametrize("first", [ARABIC_INDIC_TWO, "\u00b9", "\u0662\u0660"])
def test_other_digits_never_name_an_experiment_folder_under_auth(
    world: World, tmp_path: Path, first: str
) -> None:
    for user in ("editor", "admin"):
        put = asgi_call(world.app, "PUT", f"{PROXY}/{first}/r/x.txt", user=user, body=b"x")
        assert put.status == 400 and put.error_code == "INVALID_PARAMETER_VALUE", put.body
        listed = world.call("GET", PROXY, {"path": first}, user=user)
        assert listed.status == 400, listed.body
    assert not (tmp_path / "artifacts" / first).exists()


def test_other_digits_are_refused_without_auth(
    sqlite_store: SqlTrackingStore, tmp_path: Path
) -> None:
    app = create_app(sqlite_store, str(tmp_path / "open"), allowed_hosts=["*"])
    experiment = sqlite_store.create_experiment("two")
    assert experiment == str(int(experiment))
    for path in (f"{PROXY}/{ARABIC_INDIC_TWO}/r/x.txt", f"{PROXY}/\u00b9/x.txt"):
        for method in ("PUT", "GET", "DELETE"):
            reply = asgi_call(app, method, path, body=b"x" if method == "PUT" else None)
            assert reply.status == 400 and reply.error_code == "INVALID_PARAMETER_VALUE"
    assert not (tmp_path / "open" / ARABIC_INDIC_TWO).exists()
    # ASCII folders are unchanged: an experiment's, and others (custom locations).
    for folder in (experiment, "team"):
        assert asgi_call(app, "PUT", f"{PROXY}/{folder}/r/x.txt", body=b"x").status == 200


def test_a_proxy_folder_must_be_an_existing_experiments(world: World, tmp_path: Path) -> None:
    """A grant outlives nothing it should: the folder of an experiment that is gone (or
    never was) is 404 for everyone but administrators."""
    missing = str(int(world.b) + 1000)
    put = world.call("PUT", f"{PROXY}/{missing}/r/x.txt")
    assert put.status == 404 and put.error_code == "RESOURCE_DOES_NOT_EXIST", put.body
    assert world.call("PUT", f"{PROXY}/{world.a}/r/x.txt").status == 403
    own = asgi_call(world.app, "PUT", f"{PROXY}/{world.b}/r/x.txt", user="editor", body=b"e")
    assert own.status == 200, own.body
    assert (tmp_path / "artifacts" / world.b / "r" / "x.txt").read_bytes() == b"e"


def test_a_version_source_in_other_digits_is_no_experiments_folder(world: World) -> None:
    """`mlflow-artifacts:/٢/…` once passed the auth check as experiment 2's folder (isdigit,
    int); the store refused it after that (a source must lie in its run's or model's files).
    Now the check itself says no: the folder is no experiment's."""
    _ok(world.call("POST", API + "/registered-models/create", {"name": "mine"}))
    other_digits = "".join(chr(0x0660 + int(d)) for d in world.b)  # B's id, Arabic-Indic
    version = {"name": "mine", "source": f"mlflow-artifacts:/{other_digits}/x"}
    refused = world.call("POST", API + "/model-versions/create", version)
    assert refused.status == 403 and refused.error_code == "PERMISSION_DENIED", refused.body
