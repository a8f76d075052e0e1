"""Cairn's UI endpoints (`/ajax-api/2.0/cairn/...`) against a live `cairn server`: the
downsampled history keeps spikes on every axis and zoom, and the CSV export is exact."""

from __future__ import annotations

import csv
import io
import json
import math
import statistics
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import pytest
from live_server import LiveServer, start_server
from test_auth import ADMIN, basic, call, create_user, users_cli

import cairn
from cairn.entities import Metric

if TYPE_CHECKING:
    from conftest import TrackingServer

T0 = 1_700_000_000_000
STEPS = 5000
SPIKE_STEP, SPIKE = 3333, 1000.0
NAN_STEPS = (7, 8, 4000)
UI = "/ajax-api/2.0/cairn"


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def get(base: str, path: str, params: dict[str, Any]) -> Reply:
    url = f"{base}{UI}{path}?{urlencode(params, doseq=True)}"
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            return Reply(response.status, dict(response.headers), response.read())
    except urllib.error.HTTPError as error:
        return Reply(error.code, dict(error.headers), error.read())


def post(base: str, endpoint: str, payload: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        f"{base}/api/2.0/mlflow{endpoint}",
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        result: dict[str, Any] = json.loads(response.read())
        return result


def value_at(step: int) -> float | str:
    if step == SPIKE_STEP:
        return SPIKE
    if step in NAN_STEPS:
        return "NaN"
    return math.sin(step / 50)


def seed_run(base: str, steps: int = STEPS) -> str:
    run_id: str = post(base, "/runs/create", {"experiment_id": "0"})["run"]["info"]["run_id"]
    metrics = [
        {"key": "loss", "value": value_at(s), "timestamp": T0 + 10 * s, "step": s}
        for s in range(steps)
    ]
    for i in range(0, len(metrics), 1000):
        post(base, "/runs/log-batch", {"run_id": run_id, "metrics": metrics[i : i + 1000]})
    return run_id


@pytest.fixture(scope="module")
def seeded(tracking_server: TrackingServer) -> Iterator[tuple[str, list[str]]]:
    base = tracking_server.url
    yield base, [seed_run(base), seed_run(base), seed_run(base, steps=40)]


def downsampled(base: str, run_ids: list[str], **params: Any) -> Reply:
    return get(base, "/metrics/downsampled", {"run_ids": run_ids, "key": "loss", **params})


def test_the_spike_survives_downsampling(seeded: tuple[str, list[str]]) -> None:
    base, runs = seeded
    reply = downsampled(base, runs, buckets=100)
    assert reply.status == 200, reply.body
    big, _, small = reply.json()["series"]
    assert (big["run_id"], big["key"], big["x_axis"]) == (runs[0], "loss", "step")
    assert big["downsampled"] and big["total_points"] == STEPS
    assert len(big["points"]) <= 100
    assert max(p["max"] for p in big["points"]) == SPIKE
    assert big["non_finite_points"] == len(NAN_STEPS)
    assert all(p["min"] is not None and p["min"] <= p["last"] <= p["max"] for p in big["points"])
    assert sum(p["count"] for p in big["points"]) == STEPS
    # 40 points fit in 100 buckets: sent whole, exactly.
    assert not small["downsampled"] and [p["step"] for p in small["points"]] == list(range(40))
    assert small["points"][9]["last"] == pytest.approx(math.sin(9 / 50))
    assert small["points"][7]["last"] is None and small["points"][7]["non_finite"] == 1


@pytest.mark.parametrize("buckets", [1, 10, 999, 4999, 5000])
def test_bucket_counts_stay_within_the_request(seeded: tuple[str, list[str]], buckets: int) -> None:
    base, runs = seeded
    series = downsampled(base, runs[:1], buckets=buckets).json()["series"][0]
    assert len(series["points"]) <= buckets
    assert series["downsampled"] == (buckets < STEPS)
    assert max(p["max"] for p in series["points"] if p["max"] is not None) == SPIKE


def test_zoom_recomputes_within_the_range(seeded: tuple[str, list[str]]) -> None:
    base, runs = seeded
    series = downsampled(base, runs[:1], buckets=50, x_min=3000, x_max=3999.5).json()["series"]
    points = series[0]["points"]
    assert series[0]["total_points"] == 1000 and len(points) == 50
    assert all(3000 <= p["x"] <= 3999 for p in points)
    assert max(p["max"] for p in points) == SPIKE
    outside = downsampled(base, runs[:1], buckets=50, x_min=3400, x_max=3999).json()["series"]
    assert max(p["max"] for p in outside[0]["points"]) < SPIKE


@pytest.mark.parametrize(
    ("axis", "x_of_step"),
    [
        ("step", lambda s: s),
        ("timestamp", lambda s: T0 + 10 * s),
        ("relative", lambda s: s / 100),  # seconds since the first point
    ],
)
def test_the_three_x_axes(seeded: tuple[str, list[str]], axis: str, x_of_step: Any) -> None:
    base, runs = seeded
    whole = downsampled(base, runs[2:], x_axis=axis).json()["series"][0]["points"]
    assert [p["x"] for p in whole] == [x_of_step(s) for s in range(40)]
    zoom = {"x_min": x_of_step(1000), "x_max": x_of_step(3999)}
    points = downsampled(base, runs[:1], x_axis=axis, buckets=100, **zoom).json()["series"][0]
    # Buckets are aligned to multiples of their width: 98 of 31 steps here (or the like).
    assert 90 <= len(points["points"]) <= 100 and points["total_points"] == 3000
    spiked = [p for p in points["points"] if p["max"] == SPIKE]
    assert len(spiked) == 1 and x_of_step(3300) <= spiked[0]["x"] < x_of_step(3300 + 64)


def test_bad_calls(seeded: tuple[str, list[str]]) -> None:
    base, runs = seeded
    too_many = downsampled(base, [f"{i:032x}" for i in range(101)])
    assert too_many.status == 400 and too_many.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert downsampled(base, runs, x_axis="epoch").status == 400
    assert downsampled(base, runs, buckets=0).status == 400
    assert downsampled(base, runs, x_min="soon").status == 400
    assert get(base, "/metrics/downsampled", {"key": "loss"}).status == 400
    unknown = downsampled(base, [runs[0], "f" * 32])
    assert unknown.status == 404 and unknown.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    assert get(base, "/metrics/export", {"run_id": "f" * 32, "key": "loss"}).status == 404


def test_the_api_prefix_and_comma_separated_ids(seeded: tuple[str, list[str]]) -> None:
    base, runs = seeded
    url = f"{base}/api/2.0/cairn/metrics/downsampled?run_ids={runs[2]},{runs[0]}&key=loss"
    with urllib.request.urlopen(url, timeout=60) as response:
        series = json.loads(response.read())["series"]
    assert [s["run_id"] for s in series] == [runs[2], runs[0]]
    assert len(series[0]["points"]) == 40


def test_csv_export_is_the_stored_history(
    seeded: tuple[str, list[str]], tracking_server: TrackingServer
) -> None:
    base, runs = seeded
    reply = get(base, "/metrics/export", {"run_id": runs[0], "key": "loss"})
    assert reply.status == 200
    assert reply.headers["content-type"].startswith("text/csv")
    assert reply.headers["content-disposition"] == f'attachment; filename="{runs[0]}-loss.csv"'
    rows = list(csv.reader(io.StringIO(reply.body.decode())))
    assert rows[0] == ["step", "timestamp", "value"]
    stored = cairn.Client(tracking_server.backend_uri).get_metric_history(runs[0], "loss")
    assert len(rows) - 1 == len(stored) == STEPS
    for (step, timestamp, value), metric in zip(rows[1:], stored, strict=True):
        assert (int(step), int(timestamp)) == (metric.step, metric.timestamp)
        exported = float(value)
        assert exported == metric.value or math.isnan(exported) and math.isnan(metric.value)


# -- run counts per experiment ---------------------------------------------------------------


def _experiment_with_runs(client: cairn.Client, name: str, runs: int) -> tuple[str, list[str]]:
    experiment_id = client.create_experiment(name)
    ids = [client.create_run(experiment_id).info.run_id for _ in range(runs)]
    return experiment_id, ids


def test_run_counts_per_experiment(tracking_server: TrackingServer) -> None:
    base = tracking_server.url
    client = cairn.Client(base)
    busy, busy_runs = _experiment_with_runs(client, "counted-busy", 5)
    quiet, _ = _experiment_with_runs(client, "counted-quiet", 1)
    empty, _ = _experiment_with_runs(client, "counted-empty", 0)
    client.delete_run(busy_runs[0])  # deleted runs are not counted
    client.set_terminated(busy_runs[1], end_time=T0 * 2)  # ends last: the last activity
    reply = get(base, "/experiments/run-counts", {"experiment_ids": f"{busy},{quiet}"})
    assert reply.status == 200, reply.body
    counts = reply.json()["counts"]
    assert set(counts) == {busy, quiet}
    assert counts[busy] == {"runs": 4, "last_activity": T0 * 2}
    quiet_run = client.search_runs([quiet])[0].info
    assert counts[quiet] == {"runs": 1, "last_activity": quiet_run.start_time}
    repeated = get(base, "/experiments/run-counts", {"experiment_ids": [empty, busy]}).json()
    assert repeated["counts"][empty] == {"runs": 0, "last_activity": None}
    everything = get(base, "/experiments/run-counts", {}).json()["counts"]
    assert everything[busy] == counts[busy] and everything[quiet] == counts[quiet]
    assert empty not in everything  # without ids: the experiments holding runs


def test_run_counts_without_the_store_capability(tracking_server: TrackingServer) -> None:
    """Stores without RunCounts (here the REST store) are counted by paging search_runs."""
    from cairn.server.ui_api import count_runs
    from cairn.store.base import RunCounts
    from cairn.store.rest.tracking import RestTrackingStore

    client = cairn.Client(tracking_server.url)
    busy, busy_runs = _experiment_with_runs(client, "fallback-busy", 3)
    client.delete_run(busy_runs[0])
    store = RestTrackingStore(tracking_server.url)
    assert not isinstance(store, RunCounts)
    counted = count_runs(store, [busy])
    answered = get(tracking_server.url, "/experiments/run-counts", {"experiment_ids": busy})
    assert counted[busy].runs == 2
    assert answered.json()["counts"][busy]["last_activity"] == counted[busy].last_activity
    assert count_runs(store, None)[busy] == counted[busy]


def test_run_counts_bad_calls(tracking_server: TrackingServer) -> None:
    base = tracking_server.url
    bad = get(base, "/experiments/run-counts", {"experiment_ids": "one"})
    assert bad.status == 400 and bad.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    many = ",".join(str(i) for i in range(1001))
    assert get(base, "/experiments/run-counts", {"experiment_ids": many}).status == 400


# -- one artifact of a run ---------------------------------------------------------------------


def _put_artifact(base: str, run_id: str, path: str, body: bytes) -> None:
    """Upload through the proxy, as the mlflow client does."""
    with urllib.request.urlopen(f"{base}/api/2.0/mlflow/runs/get?run_id={run_id}") as reply:
        run = json.loads(reply.read())
    root = run["run"]["info"]["artifact_uri"].removeprefix("mlflow-artifacts:").strip("/")
    target = f"{base}/api/2.0/mlflow-artifacts/artifacts/{root}/{path}"
    with urllib.request.urlopen(urllib.request.Request(target, data=body, method="PUT")) as reply:
        assert reply.status == 200


def test_a_runs_artifact_is_served_by_run_id(tracking_server: TrackingServer) -> None:
    base = tracking_server.url
    run_id = seed_run(base, steps=1)
    _put_artifact(base, run_id, "plots/curve.png", b"\x89PNG not really")
    reply = get(base, "/artifacts/get", {"run_id": run_id, "path": "plots/curve.png"})
    assert reply.status == 200 and reply.body == b"\x89PNG not really"
    assert reply.headers["content-type"] == "image/png"
    assert reply.headers["content-disposition"].startswith("attachment")
    assert "sandbox" in reply.headers["content-security-policy"]


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"path": "../../etc/passwd"}, 400, "INVALID_PARAMETER_VALUE"),
        ({"path": "/etc/passwd"}, 400, "INVALID_PARAMETER_VALUE"),
        ({"path": "%2e%2e/%2e%2e/secret"}, 400, "INVALID_PARAMETER_VALUE"),
        ({"path": "plots"}, 400, "INVALID_PARAMETER_VALUE"),
        ({"path": "missing.txt"}, 404, "RESOURCE_DOES_NOT_EXIST"),
        ({}, 400, "INVALID_PARAMETER_VALUE"),
        ({"path": "plots/curve.png", "run_id": "f" * 32}, 404, "RESOURCE_DOES_NOT_EXIST"),
    ],
)
def test_a_runs_artifact_refuses_what_lies_outside_it(
    tracking_server: TrackingServer, params: dict[str, str], status: int, code: str
) -> None:
    base = tracking_server.url
    run_id = seed_run(base, steps=1)
    _put_artifact(base, run_id, "plots/curve.png", b"x")
    reply = get(base, "/artifacts/get", {"run_id": run_id, **params})
    assert (reply.status, reply.json()["error_code"]) == (status, code)


# -- with --auth -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, str, str]]:
    """A server with auth: "reader" may read experiment `mine`, not `theirs`."""
    server = start_server(tmp_path_factory.mktemp("ui-auth"), "--auth")
    try:
        create_user(server.database, "admin", "--admin")
        create_user(server.database, "reader")
        runs = []
        for name in ("mine", "theirs"):
            experiment = call(server, "POST", "/experiments/create", {"name": name}, ADMIN)
            experiment_id = experiment.json()["experiment_id"]
            created = call(server, "POST", "/runs/create", {"experiment_id": experiment_id}, ADMIN)
            run_id = created.json()["run"]["info"]["run_id"]
            metric = {"run_id": run_id, "key": "loss", "value": 1.5, "timestamp": T0, "step": 0}
            assert call(server, "POST", "/runs/log-metric", metric, ADMIN).status == 200
            runs.append(run_id)
            if name == "mine":
                done = users_cli(server.database, "grant", "reader", experiment_id, "READ")
                assert done.returncode == 0, done.stderr
        yield server, runs[0], runs[1]
    finally:
        server.stop()


def test_auth_needs_read_on_every_runs_experiment(guarded: tuple[LiveServer, str, str]) -> None:
    server, mine, theirs = guarded
    reader = basic("reader")

    def ask(path: str, params: dict[str, Any], auth: dict[str, str] | None) -> int:
        return call(server, "GET", path, params, auth, prefix=UI).status

    downsample = "/metrics/downsampled"
    assert ask(downsample, {"run_ids": [mine], "key": "loss"}, None) == 401
    assert ask(downsample, {"run_ids": [mine], "key": "loss"}, reader) == 200
    assert ask(downsample, {"run_ids": [mine, theirs], "key": "loss"}, reader) == 403
    assert ask(downsample, {"run_ids": [theirs], "key": "loss"}, ADMIN) == 200
    assert ask("/metrics/export", {"run_id": mine, "key": "loss"}, reader) == 200
    assert ask("/metrics/export", {"run_id": theirs, "key": "loss"}, reader) == 403
    # An artifact by run id: READ on the run's experiment (a missing file past the check: 404).
    assert ask("/artifacts/get", {"run_id": mine, "path": "none.txt"}, reader) == 404
    assert ask("/artifacts/get", {"run_id": theirs, "path": "none.txt"}, reader) == 403
    assert ask("/artifacts/get", {"run_id": theirs, "path": "none.txt"}, None) == 401
    too_many = {"run_ids": [mine] + [f"{i:032x}" for i in range(100)], "key": "loss"}
    assert ask(downsample, too_many, reader) == 400


def _experiment_of(server: LiveServer, run_id: str) -> str:
    run = call(server, "GET", "/runs/get", {"run_id": run_id}, ADMIN).json()["run"]
    return str(run["info"]["experiment_id"])


def test_auth_run_counts_only_readable_experiments(guarded: tuple[LiveServer, str, str]) -> None:
    server, mine, theirs = guarded
    reader = basic("reader")

    ours, other = _experiment_of(server, mine), _experiment_of(server, theirs)

    def counts(params: dict[str, Any], auth: dict[str, str] | None) -> Any:
        return call(server, "GET", "/experiments/run-counts", params, auth, prefix=UI)

    assert counts({}, None).status == 401
    assert set(counts({}, reader).json()["counts"]) == {ours}
    assert counts({"experiment_ids": ours}, reader).json()["counts"][ours]["runs"] == 1
    assert counts({"experiment_ids": f"{ours},{other}"}, reader).status == 403
    assert counts({"experiment_ids": other}, reader).status == 403
    assert set(counts({}, ADMIN).json()["counts"]) >= {ours, other}


def test_any_authenticated_user_gets_the_ui_page(guarded: tuple[LiveServer, str, str]) -> None:
    server = guarded[0]
    assert server.request("GET", "/").status == 401
    assert server.request("GET", "/", headers=basic("reader")).status == 200
    assert server.request("POST", "/", headers=basic("reader")).status != 200


# -- one metric over groups of runs -----------------------------------------------------------


def _grouped_experiment(client: cairn.Client, name: str) -> tuple[str, dict[str, list[str]]]:
    """Runs with lr 0.1 (3), 0.01 (2) and none (1); 40 steps each, a NaN and a repeated step."""
    experiment_id = client.create_experiment(name)
    runs: dict[str, list[str]] = {}
    for i, lr in enumerate(["0.1", "0.01", "0.1", None, "0.01", "0.1"]):
        run_id = client.create_run(experiment_id, run_name=f"g{i}").info.run_id
        if lr is not None:
            client.log_param(run_id, "lr", lr)
        points = [Metric("loss", (i + 1) / (s + 1), T0 + s, s) for s in range(40)]
        points[7] = Metric("loss", math.nan, T0 + 7, 7)
        points.append(Metric("loss", 100.0 + i, T0 + 500, 12))  # later at 12
        client.log_batch(run_id, metrics=points)
        runs.setdefault(lr or "", []).append(run_id)
    return experiment_id, runs


def _expected_means(client: cairn.Client, run_ids: list[str]) -> dict[int, float]:
    """Per step, the mean over runs of each run's last finite point there (by the client)."""
    values: dict[int, list[float]] = {}
    for run_id in run_ids:
        last: dict[int, tuple[int, float]] = {}
        for m in client.get_metric_history(run_id, "loss"):
            if math.isfinite(m.value) and (m.step not in last or m.timestamp >= last[m.step][0]):
                last[m.step] = (m.timestamp, m.value)
        for step, (_, value) in last.items():
            values.setdefault(step, []).append(value)
    return {step: sum(v) / len(v) for step, v in values.items()}


def grouped(base: str, **params: Any) -> Reply:
    return get(base, "/metrics/grouped", {"key": "loss", **params})


def test_grouped_means_equal_the_clients(tracking_server: TrackingServer) -> None:
    base = tracking_server.url
    client = cairn.Client(base)
    experiment_id, runs = _grouped_experiment(client, "grouped-means")
    reply = grouped(base, experiment_ids=experiment_id, group_by="params.lr")
    assert reply.status == 200, reply.body
    answer = reply.json()
    assert (answer["runs"], answer["bucket_width"], answer["groups_left_out"]) == (6, 1, 0)
    # Numerically ordered, the runs without the param last.
    assert [(g["value"], g["runs"]) for g in answer["groups"]] == [
        ("0.01", 2),
        ("0.1", 3),
        (None, 1),
    ]
    for group in answer["groups"]:
        expected = _expected_means(client, runs[group["value"] or ""])
        assert group["x"] == sorted(expected) and 7 not in group["x"]
        assert group["mean"] == pytest.approx([expected[x] for x in group["x"]], rel=1e-12)
        bounds = zip(group["min"], group["mean"], group["max"], strict=True)
        assert all(lo <= m <= hi for lo, m, hi in bounds)
    lr01 = answer["groups"][1]
    at12 = lr01["x"].index(12)
    assert lr01["count"][at12] == 3 and lr01["min"][at12] == 100.0  # the later points
    assert lr01["std"][0] == pytest.approx(statistics.pstdev([1.0, 3.0, 6.0]))


def test_grouped_by_nothing_filter_and_run_ids(tracking_server: TrackingServer) -> None:
    base = tracking_server.url
    client = cairn.Client(base)
    experiment_id, runs = _grouped_experiment(client, "grouped-filters")
    everything = grouped(base, experiment_ids=experiment_id, buckets=5).json()
    assert [g["value"] for g in everything["groups"]] == [None]
    assert everything["groups"][0]["runs"] == 6 and len(everything["groups"][0]["x"]) <= 5
    assert everything["bucket_width"] == 8  # 40 steps in 5 aligned buckets
    only = grouped(
        base, experiment_ids=experiment_id, group_by="params.lr", filter="params.lr = '0.1'"
    ).json()
    assert [(g["value"], g["runs"]) for g in only["groups"]] == [("0.1", 3)]
    chosen = runs["0.1"][:1] + runs["0.01"]
    picked = grouped(
        base, experiment_ids=experiment_id, group_by="param.lr", run_ids=",".join(chosen)
    ).json()
    assert [(g["value"], g["runs"]) for g in picked["groups"]] == [("0.01", 2), ("0.1", 1)]
    zoomed = grouped(base, experiment_ids=experiment_id, x_min=10, x_max=19.5).json()
    assert zoomed["groups"][0]["x"] == list(range(10, 20))
    status = grouped(base, experiment_ids=experiment_id, group_by="attributes.status").json()
    assert [g["value"] for g in status["groups"]] == ["RUNNING"]


def test_grouped_without_the_store_capability(tracking_server: TrackingServer) -> None:
    """Stores without GroupedMetricHistory (here the REST store) are served from histories."""
    from cairn.server.ui_api import grouped_history
    from cairn.store.base import GroupedMetricHistory
    from cairn.store.rest.tracking import RestTrackingStore

    client = cairn.Client(tracking_server.url)
    experiment_id, runs = _grouped_experiment(client, "grouped-fallback")
    store = RestTrackingStore(tracking_server.url)
    assert not isinstance(store, GroupedMetricHistory)
    groups = [runs["0.01"], runs["0.1"]]
    generic = grouped_history(store, groups, "loss", 7, 2, 30)
    answer = grouped(
        tracking_server.url,
        experiment_ids=experiment_id,
        group_by="params.lr",
        filter="params.lr != 'x'",
        buckets=7,
        x_min=2,
        x_max=30,
    ).json()
    assert answer["bucket_width"] == generic.width == 5
    for group, stats in zip(answer["groups"], generic.groups, strict=True):
        assert group["x"] == [b.x for b in stats]
        assert group["count"] == [b.count for b in stats]
        assert group["mean"] == pytest.approx([b.mean for b in stats], rel=1e-12)
        assert group["std"] == pytest.approx([b.std for b in stats], rel=1e-9, abs=1e-12)


@pytest.fixture(scope="module")
def empty_experiment(tracking_server: TrackingServer) -> str:
    return cairn.Client(tracking_server.url).create_experiment("grouped-bad-calls")


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"experiment_ids": None}, 400, "INVALID_PARAMETER_VALUE"),
        ({"experiment_ids": "x1"}, 400, "INVALID_PARAMETER_VALUE"),
        ({"group_by": "metrics.loss"}, 400, "INVALID_PARAMETER_VALUE"),
        ({"group_by": "params"}, 400, "INVALID_PARAMETER_VALUE"),
        ({"buckets": 0}, 400, "INVALID_PARAMETER_VALUE"),
        ({"buckets": "many"}, 400, "INVALID_PARAMETER_VALUE"),
        ({"filter": "params.lr >>> 1"}, 400, "INVALID_PARAMETER_VALUE"),
        ({"x_min": "soon"}, 400, "INVALID_PARAMETER_VALUE"),
        ({"run_ids": "f" * 32}, 404, "RESOURCE_DOES_NOT_EXIST"),
        ({"run_ids": "bad'id"}, 400, "INVALID_PARAMETER_VALUE"),
        ({"experiment_ids": "987654"}, 404, "RESOURCE_DOES_NOT_EXIST"),
        ({"key": None}, 400, "INVALID_PARAMETER_VALUE"),
    ],
)
def test_grouped_bad_calls(
    tracking_server: TrackingServer,
    empty_experiment: str,
    params: dict[str, Any],
    status: int,
    code: str,
) -> None:
    asked = {"key": "loss", "experiment_ids": empty_experiment, **params}
    reply = get(
        tracking_server.url, "/metrics/grouped", {k: v for k, v in asked.items() if v is not None}
    )
    assert (reply.status, reply.json()["error_code"]) == (status, code), reply.body


def test_auth_grouped_needs_read_on_every_experiment(guarded: tuple[LiveServer, str, str]) -> None:
    server, mine, theirs = guarded
    reader = basic("reader")

    ours, other = _experiment_of(server, mine), _experiment_of(server, theirs)

    def ask(params: dict[str, Any], auth: dict[str, str] | None) -> Any:
        return call(server, "GET", "/metrics/grouped", {"key": "loss", **params}, auth, prefix=UI)

    answer = ask({"experiment_ids": ours}, reader)
    assert answer.status == 200 and answer.json()["groups"][0]["mean"] == [1.5]
    assert ask({"experiment_ids": ours}, None).status == 401
    assert ask({"experiment_ids": other}, reader).status == 403
    assert ask({"experiment_ids": f"{ours},{other}"}, reader).status == 403
    # A run of another experiment is not found among the readable one's runs.
    assert ask({"experiment_ids": ours, "run_ids": theirs}, reader).status == 404
    assert ask({"experiment_ids": other}, ADMIN).status == 200
