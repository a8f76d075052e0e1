"""Lineage on a small graph of runs, datasets and registered versions: from a dataset's
digest forward to what it trained, and from a model version back to its data and commit,
through the Client and through `cairn lineage`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from sklearn.linear_model import LogisticRegression

import cairn
from cairn.cli import cli
from cairn.entities import Dataset, DatasetInput, InputTag

CUSTOMERS = Dataset("customers", "c0ffee01", "local", '{"uri": "file:///data/customers.csv"}')
EVENTS = Dataset("events", "e7e7e7e7", "local", '{"uri": "file:///data/events.parquet"}')


def _read(run_id: str, dataset: Dataset, context: str) -> None:
    tags = (InputTag("mlflow.data.context", context),)
    cairn.Client().log_inputs(run_id, [DatasetInput(dataset, tags)])


@pytest.fixture
def graph(workdir: Path) -> dict[str, str]:
    """run `a` reads customers (training) and registers churn/1 at commit abc; run `b` reads
    customers (validation) and events; run `c` reads events and registers ranker/1."""
    model = LogisticRegression().fit(np.array([[0.0], [1.0], [2.0], [3.0]]), [0, 0, 1, 1])
    ids = {}
    cairn.set_experiment("lineage-one")
    with cairn.start_run() as run:
        cairn.set_tag("mlflow.source.git.commit", "abc")
        _read(run.info.run_id, CUSTOMERS, "training")
        cairn.sklearn.log_model(model, "clf", registered_model_name="churn")
        ids["a"] = run.info.run_id
    with cairn.start_run() as run:
        _read(run.info.run_id, CUSTOMERS, "validation")
        _read(run.info.run_id, EVENTS, "training")
        ids["b"] = run.info.run_id
    cairn.set_experiment("lineage-two")
    with cairn.start_run() as run:
        _read(run.info.run_id, EVENTS, "training")
        cairn.sklearn.log_model(model, "clf", registered_model_name="ranker")
        ids["c"] = run.info.run_id
    return ids


def test_a_dataset_leads_to_the_runs_and_versions_it_fed(graph: dict[str, str]) -> None:
    lineage = cairn.Client().get_dataset_lineage(CUSTOMERS.digest)
    assert {(u.run_id, u.context) for u in lineage.runs} == {
        (graph["a"], "training"),
        (graph["b"], "validation"),
    }
    assert [(v.name, v.version) for v in lineage.model_versions] == [("churn", "1")]
    assert len(lineage.logged_model_ids) == 1
    assert [d.name for d in lineage.datasets] == ["customers"]

    events = cairn.Client().get_dataset_lineage(EVENTS.digest)
    assert {u.run_id for u in events.runs} == {graph["b"], graph["c"]}
    assert [(v.name, v.version) for v in events.model_versions] == [("ranker", "1")]


def test_a_version_leads_back_to_its_data_and_commit(graph: dict[str, str]) -> None:
    lineage = cairn.Client().get_model_version_lineage("churn", 1)
    assert lineage.run is not None and lineage.run.info.run_id == graph["a"]
    assert [d.dataset.digest for d in lineage.datasets] == [CUSTOMERS.digest]
    assert lineage.git_commit == "abc"


def test_cli_shows_both_directions(graph: dict[str, str]) -> None:
    runner = CliRunner()
    forward = runner.invoke(cli, ["lineage", CUSTOMERS.digest])
    assert forward.exit_code == 0, forward.output
    assert graph["a"] in forward.output and "churn/1" in forward.output
    backward = runner.invoke(cli, ["lineage", "models:/churn/latest"])
    assert backward.exit_code == 0, backward.output
    assert graph["a"] in backward.output and CUSTOMERS.digest in backward.output
    assert "git commit abc" in backward.output
    parsed = json.loads(runner.invoke(cli, ["lineage", EVENTS.digest, "--json"]).output)
    assert {r["run_id"] for r in parsed["runs"]} == {graph["b"], graph["c"]}


def test_an_unknown_digest_has_no_lineage_and_a_bad_one_is_refused(graph: dict[str, str]) -> None:
    empty = cairn.Client().get_dataset_lineage("00000000")
    assert (empty.runs, empty.model_versions) == ((), ())
    refused = CliRunner().invoke(cli, ["lineage", "x' OR '1'='1"])
    assert refused.exit_code == 1 and "INVALID_PARAMETER_VALUE" in refused.output
    unknown = CliRunner().invoke(cli, ["lineage", "models:/nobody/1"])
    assert unknown.exit_code == 1 and "RESOURCE_DOES_NOT_EXIST" in unknown.output
