"""The registry pages: the models list, a model (description and tags edited in place,
versions linked), and a version (its source run by name, the signature and input example
read from its MLmodel file, the stage history, the commit and datasets it came from)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pytest
from playwright.sync_api import expect
from sklearn.linear_model import LogisticRegression
from ui_support import Seeded, screenshot

import cairn
import cairn.sklearn
from cairn.entities import Dataset, DatasetInput, InputTag
from cairn.models import infer_signature
from cairn.tracking import session

MODEL = "iris-classifier"
COMMIT = "fedcba9876543210fedcba9876543210fedcba98"
DESCRIPTION = "Classifies irises.\nTrained on the 2024 sample."
COLUMNS = ["sepal_length", "petal_width"]


@dataclass
class Registered:
    url: str
    client: cairn.Client
    run_id: str


def _features() -> pd.DataFrame:
    return pd.DataFrame({"sepal_length": [5.1, 4.9, 6.3, 5.8], "petal_width": [0.2, 0.2, 1.8, 1.2]})


@pytest.fixture(scope="module")
def registered(seeded: Seeded, tmp_path_factory: pytest.TempPathFactory) -> Registered:
    """Version 1: cairn.sklearn.log_model (an MLflow-3 logged model, source models:/m-…);
    version 2: the same model saved into the run's own artifacts (source runs:/<run>/…)."""
    client = seeded.client
    experiment_id = client.create_experiment("registry-demo")
    run_id = client.create_run(experiment_id, run_name="train-iris").info.run_id
    client.set_tag(run_id, "mlflow.source.git.commit", COMMIT)
    train = Dataset("iris-train", "1r1s", "local", '{"uri": "/data/iris.csv"}')
    client.log_inputs(run_id, [DatasetInput(train, (InputTag("mlflow.data.context", "training"),))])
    x = _features()
    model = LogisticRegression().fit(x, [0, 0, 1, 1])
    signature = infer_signature(x, model.predict(x))
    folder = tmp_path_factory.mktemp("plain-model") / "model"
    cairn.sklearn.save_model(model, str(folder), signature=signature, input_example=x.head(3))
    session.reset()
    cairn.set_tracking_uri(seeded.url)
    try:
        with cairn.start_run(run_id=run_id):
            cairn.sklearn.log_model(
                model,
                name="model",
                signature=signature,
                input_example=x.head(3),
                registered_model_name=MODEL,
            )
            cairn.log_artifacts(str(folder), "plain-model")
    finally:
        session.reset()
    client.create_model_version(MODEL, f"runs:/{run_id}/plain-model", run_id=run_id)
    client.update_registered_model(MODEL, DESCRIPTION)
    client.set_registered_model_tag(MODEL, "team", "vision")
    client.set_model_version_tag(MODEL, "1", "validated", "yes")
    client.transition_model_version_stage(MODEL, "1", "Staging")
    client.transition_model_version_stage(MODEL, "1", "Production")
    return Registered(seeded.url, client, run_id)


def test_models_page_lists_descriptions_and_relative_times(
    page: Any, registered: Registered
) -> None:
    page.goto(f"{registered.url}/#/models")
    row = page.locator(f'#models tr[data-model="{MODEL}"]')
    expect(row.locator("td.description")).to_have_text("Classifies irises.")  # the first line
    expect(row.locator("time.relative")).to_have_text(re.compile(r"just now|ago"))
    expect(row.locator(f'a[href="#/models/{MODEL}/versions/1"]')).to_have_text("v1 Production")
    expect(page.locator("#models tbody tr")).to_have_count(2)
    screenshot(page, "models")
    page.fill("#model-filter", "iris")
    expect(page.locator("#models tbody tr")).to_have_count(1)
    expect(page.locator("#model-count")).to_have_text("1 of 2 models")
    assert not page.errors


def test_models_page_without_models_says_how_to_register_one(
    page: Any, registered: Registered
) -> None:
    page.route("**/registered-models/search*", lambda route: route.fulfill(json={}))
    page.goto(f"{registered.url}/#/models")
    expect(page.locator(".empty-state")).to_contain_text("registered_model_name=")
    expect(page.locator("#models")).to_have_count(0)
    assert not page.errors


def test_model_page_edits_description_and_tags(page: Any, registered: Registered) -> None:
    client = registered.client
    page.goto(f"{registered.url}/#/models/{MODEL}")
    expect(page.locator("nav.crumbs")).to_have_text(f"Models›{MODEL}")
    description = page.locator("#model-description")
    expect(description.locator(".description-text")).to_have_text(DESCRIPTION)
    expect(page.locator('#versions tr[data-version="1"] td.lineage a.run-link')).to_have_text(
        "train-iris"
    )
    screenshot(page, "model")
    description.locator("button.edit-description").click()
    description.locator("textarea").fill("Classifies irises, v2 of the notes.")
    description.locator("button.save-description").click()
    expect(description.locator(".description-text")).to_have_text(
        "Classifies irises, v2 of the notes."
    )
    assert client.get_registered_model(MODEL).description == "Classifies irises, v2 of the notes."
    tags = page.locator("#model-tags")
    tags.get_by_label("Tag key").fill("owner")
    tags.get_by_label("Tag value").fill("ml-platform")
    tags.locator("button.add-tag-button").click()
    expect(tags.locator('tr[data-key="owner"] td').first).to_have_text("ml-platform")
    tags.get_by_role("button", name="Delete tag team").click()
    expect(tags.locator('tr[data-key="team"]')).to_have_count(0)
    assert client.get_registered_model(MODEL).tags == {"owner": "ml-platform"}
    assert not page.errors


def test_a_version_row_links_to_its_page(page: Any, registered: Registered) -> None:
    page.goto(f"{registered.url}/#/models/{MODEL}")
    page.locator('#versions tr[data-version="2"] a.version-link').click()
    expect(page).to_have_url(re.compile(f"#/models/{MODEL}/versions/2$"))
    expect(page.locator("nav.crumbs")).to_have_text(f"Models›{MODEL}›v2")
    expect(page.locator("#source-uri")).to_have_text(f"runs:/{registered.run_id}/plain-model")
    # Its files are the run's own artifacts: the signature is read from there.
    expect(page.locator("#signature-inputs td.column-name")).to_have_text(COLUMNS)
    assert not page.errors


def test_version_page_shows_source_signature_history_and_lineage(
    page: Any, registered: Registered
) -> None:
    page.goto(f"{registered.url}/#/models/{MODEL}/versions/1")
    expect(page.locator("nav.crumbs")).to_have_text(f"Models›{MODEL}›v1")
    expect(page.locator("h1 .stage-badge")).to_have_text("Production")
    source = page.locator("#source-run")
    expect(source.locator("a.run-link")).to_have_text("train-iris")
    expect(source.locator(".status-badge")).to_have_text("FINISHED")
    expect(source.locator("a.experiment-link")).to_have_text("registry-demo")
    expect(page.locator("#source-uri")).to_have_text(re.compile(r"^models:/m-[0-9a-f]{32}$"))
    # The logged model's MLmodel: signature columns, output tensor, the input example.
    expect(page.locator("#signature-inputs td.column-name")).to_have_text(COLUMNS)
    expect(page.locator("#signature-inputs td code")).to_have_text(["double", "double"])
    expect(page.locator("#signature-outputs code")).to_have_text(re.compile("tensor int64"))
    example = page.locator("#input-example table")
    expect(example.locator("th")).to_have_text(COLUMNS)
    expect(example.locator("tbody tr")).to_have_count(3)
    expect(example.locator("tbody tr").first.locator("td")).to_have_text(["5.1", "0.2"])
    # Newest first: who moved it from which stage to which.
    history = page.locator("#stage-history tbody tr")
    expect(history.locator("td.to")).to_have_text(["Production", "Staging", "None"])
    expect(history.locator("td.from")).to_have_text(["Staging", "None", ""])
    expect(page.locator("#git-commit")).to_have_text(COMMIT)
    expect(page.locator("#datasets")).to_contain_text("iris-train")
    expect(page.locator("#datasets")).to_contain_text("training")
    screenshot(page, "model-version")
    assert not page.errors


def test_editing_a_version_reaches_the_client(page: Any, registered: Registered) -> None:
    client = registered.client
    page.goto(f"{registered.url}/#/models/{MODEL}/versions/1")
    description = page.locator("#version-description")
    description.locator("button.edit-description").click()
    description.locator("textarea").fill("Approved for the\nspring release.")
    description.locator("button.save-description").click()
    expect(description.locator(".description-text")).to_have_text(
        "Approved for the\nspring release."
    )
    assert client.get_model_version(MODEL, "1").description == "Approved for the\nspring release."
    tags = page.locator("#version-tags")
    expect(tags.locator('tr[data-key="validated"]')).to_be_visible()
    tags.get_by_label("Tag key").fill("reviewer")
    tags.get_by_label("Tag value").fill("ana")
    tags.get_by_label("Tag value").press("Enter")
    expect(tags.locator('tr[data-key="reviewer"]')).to_be_visible()
    tags.get_by_role("button", name="Delete tag validated").click()
    expect(tags.locator('tr[data-key="validated"]')).to_have_count(0)
    assert client.get_model_version(MODEL, "1").tags == {"reviewer": "ana"}
    assert not page.errors


def test_a_version_without_model_files_says_so(page: Any, registered: Registered) -> None:
    """ui_support's "classifier" v1 names runs:/<run-0>/model, where nothing was stored."""
    page.goto(f"{registered.url}/#/models/classifier/versions/1")
    expect(page.locator("#signature")).to_contain_text("No MLmodel file at runs:/")
    expect(page.locator("#source-run a.run-link")).to_have_text("run-0")
    assert not page.errors
