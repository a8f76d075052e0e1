"""The runs table: state in the address (Back, reload, a shared link), status badges and
filter, nested runs as a tree, the pinned name column, resizable columns, the dataset and
model-version columns, an empty experiment's first-run snippet, and errors that replace the
rows; the experiments page's relative times and empty state."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import expect
from ui_support import Seeded, screenshot

from cairn.entities import Dataset, DatasetInput, InputTag

ROWS = "#runs-table .vt-row[data-run-id]"
WIDE_PARAMS = 8  # param columns enough to make the table wider than the window
ACC = "metrics.`acc`"
LOADED = re.compile(r"^\d+ runs?$")  # the status once every page of runs is in


@dataclass
class Table:
    url: str
    experiment_id: str
    empty_id: str
    ids: dict[str, str]

    @property
    def page_url(self) -> str:
        return f"{self.url}/#/experiments/{self.experiment_id}"

    def row(self, name: str) -> str:
        return f'{ROWS}[data-run-id="{self.ids[name]}"]'


@pytest.fixture(scope="module")
def table(seeded: Seeded) -> Table:
    """ok-0..2 (acc 0.1-0.3), a FAILED and a KILLED run, a parent "sweep" with 3 children, a
    run with a dataset input, a model version registered from ok-2, and an empty experiment."""
    client = seeded.client
    experiment = client.create_experiment("runs-table")
    ids: dict[str, str] = {}

    def run(name: str, status: str | None = "FINISHED", **tags: str) -> str:
        rid = client.create_run(experiment, run_name=name, tags=tags or None).info.run_id
        ids[name] = rid
        if status:
            client.set_terminated(rid, status)
        return rid

    for i in range(3):
        rid = run(f"ok-{i}", status=None)
        client.log_metric(rid, "acc", 0.1 * (i + 1))
        for k in range(WIDE_PARAMS):
            client.log_param(rid, f"p{k}", f"value-{k}")
        client.set_terminated(rid)
    client.log_metric(run("failed-run", "FAILED"), "acc", 0.05)
    run("killed-run", "KILLED")
    parent = run("sweep")
    for i in range(3):
        client.log_param(run(f"trial-{i}", **{"mlflow.parentRunId": parent}), "trial", str(i))
    data = Dataset("imagenet-mini", "abc123", "local", '{"uri": "/data/in.csv"}')
    client.log_inputs(
        run("with-data"), [DatasetInput(data, (InputTag("mlflow.data.context", "training"),))]
    )
    client.create_registered_model("table-model")
    client.create_model_version("table-model", f"runs:/{ids['ok-2']}/model", run_id=ids["ok-2"])
    empty = client.create_experiment("empty-exp")
    return Table(seeded.url, experiment, empty, ids)


def _open(page: Any, table: Table) -> None:
    page.goto(table.page_url)
    expect(page.locator("#runs-status")).to_have_text(LOADED)


def _names(page: Any) -> list[str]:
    return page.locator(f"{ROWS} a.run-link").all_inner_texts()


def _query(page: Any) -> dict[str, list[str]]:
    return parse_qs(urlsplit(page.url).fragment.partition("?")[2])


def test_filter_and_sort_survive_back_reload_and_a_shared_link(page: Any, table: Table) -> None:
    _open(page, table)
    expect(page.locator("#runs-status")).to_have_text(f"{len(table.ids)} runs")
    page.fill("#filter", "metrics.acc > 0.08")
    page.press("#filter", "Enter")
    expect(page.locator("#runs-status")).to_have_text("3 runs")
    header = page.locator(f'#runs-table .th[data-column="{ACC}"]')
    header.click()  # descending
    expect(header).to_have_attribute("aria-sort", "descending")
    expect(page.locator(f"{ROWS} a.run-link").first).to_have_text("ok-2")
    header.click()  # ascending
    expect(header).to_have_attribute("aria-sort", "ascending")
    expect(page.locator(f"{ROWS} a.run-link").first).to_have_text("ok-0")
    assert _query(page) == {"filter": ["metrics.acc > 0.08"], "sort": [ACC], "dir": ["asc"]}
    ascending = ["ok-0", "ok-1", "ok-2"]
    assert _names(page) == ascending

    page.reload()
    expect(page.locator("#filter")).to_have_value("metrics.acc > 0.08")
    expect(page.locator(f'#runs-table .th[data-column="{ACC}"]')).to_have_attribute(
        "aria-sort", "ascending"
    )
    expect(page.locator(ROWS)).to_have_count(3)
    assert _names(page) == ascending

    shared = page.context.new_page()  # the copied address in a new tab
    shared.goto(page.url)
    expect(shared.locator("#filter")).to_have_value("metrics.acc > 0.08")
    expect(shared.locator(ROWS)).to_have_count(3)
    assert _names(shared) == ascending
    shared.close()

    page.go_back()  # the descending sort
    expect(page.locator(f'#runs-table .th[data-column="{ACC}"]')).to_have_attribute(
        "aria-sort", "descending"
    )
    expect(page.locator(f"{ROWS} a.run-link").first).to_have_text("ok-2")
    page.go_back()  # the filter, unsorted
    expect(page.locator("#runs-status")).to_have_text("3 runs")
    expect(page.locator("#runs-table .th[aria-sort]")).to_have_count(0)
    page.go_back()  # no filter
    expect(page.locator("#filter")).to_have_value("")
    expect(page.locator("#runs-status")).to_have_text(f"{len(table.ids)} runs")
    assert not page.errors


def test_columns_grouping_and_selection_come_back_from_the_address(page: Any, table: Table) -> None:
    _open(page, table)
    page.click("details.columns summary")
    page.locator('details.columns input[data-column="attributes.user_id"]').uncheck()
    expect(page.locator('#runs-table .th[data-column="attributes.user_id"]')).to_have_count(0)
    page.click("details.columns summary")
    page.locator(f"{table.row('ok-0')} input[type=checkbox]").check()
    page.locator(f"{table.row('ok-1')} input[type=checkbox]").check()
    expect(page.locator("#selection")).to_have_text("2 selected")
    page.select_option("#group-by", label="params.trial")
    expect(page.locator("#runs-table .vt-row.group")).to_have_count(4)  # 0, 1, 2, (none)
    page.reload()
    expect(page.locator("#runs-table .vt-row.group")).to_have_count(4)
    expect(page.locator("#group-by")).to_have_value("params.trial")
    expect(page.locator("#selection")).to_have_text("2 selected")
    expect(page.locator(f"{table.row('ok-0')} input[type=checkbox]")).to_be_checked()
    expect(page.locator(f"{table.row('ok-1')}.selected")).to_have_count(1)
    expect(page.locator('#runs-table .th[data-column="attributes.user_id"]')).to_have_count(0)
    expect(page.locator('#runs-table .th[data-column="attributes.status"]')).to_have_count(1)
    # Grouped, the tree is flat: a child run sits in its own value's group, marked.
    trial = page.locator(table.row("trial-1"))
    expect(trial.locator(".child-of")).to_have_attribute("title", "Child of sweep")
    assert not page.errors


def test_the_select_all_box_shows_what_is_selected(page: Any, table: Table) -> None:
    _open(page, table)
    head = page.locator('#runs-table input[aria-label="Select all runs"]')
    boxes = page.locator(f"{ROWS} input[type=checkbox]")
    expect(head).not_to_be_checked()
    boxes.first.check()
    assert head.evaluate("(box) => box.indeterminate")
    head.check()  # every listed run
    expect(page.locator("#selection")).to_have_text(f"{boxes.count()} selected")
    assert not head.evaluate("(box) => box.indeterminate")
    boxes.first.uncheck()
    expect(head).not_to_be_checked()
    assert head.evaluate("(box) => box.indeterminate")
    for i in range(boxes.count()):
        boxes.nth(i).check()
    expect(head).to_be_checked()
    assert not page.errors


def test_failed_and_killed_runs_stand_out(page: Any, table: Table) -> None:
    _open(page, table)
    failed = page.locator(f"{table.row('failed-run')} .status-badge")
    expect(failed).to_have_text("FAILED")
    expect(failed).to_have_class("status-badge status-failed")
    expect(page.locator(f"{table.row('killed-run')} .status-badge.status-killed")).to_have_text(
        "KILLED"
    )
    finished = page.locator(f"{table.row('ok-0')} .status-badge")
    background = "(e) => getComputedStyle(e).backgroundColor"
    assert failed.evaluate(background) != finished.evaluate(background)
    started = page.locator(f"{table.row('ok-0')} time.relative")
    expect(started).to_have_text("just now")
    assert started.get_attribute("title")  # the exact time on hover
    expect(page.locator("nav.crumbs")).to_have_text("Experiments›runs-table")
    screenshot(page, "runs-table")
    assert not page.errors


def test_status_filter_and_the_filter_box_combine(page: Any, table: Table) -> None:
    _open(page, table)
    page.click('#status-filter button[data-status="FAILED"]')
    expect(page.locator("#runs-status")).to_have_text("1 run")
    assert _names(page) == ["failed-run"]
    assert _query(page)["status"] == ["FAILED"]
    page.fill("#filter", "attributes.run_name LIKE 'k%'")
    page.press("#filter", "Enter")
    expect(page.locator("#runs-status")).to_have_text("0 runs")
    expect(page.locator("#runs-empty")).to_contain_text("No runs match")
    page.click('#status-filter button[data-status="KILLED"]')
    expect(page.locator(ROWS)).to_have_count(1)
    assert _names(page) == ["killed-run"]
    expect(page.locator('#status-filter button[data-status="KILLED"]')).to_have_attribute(
        "aria-pressed", "true"
    )
    page.go_back()
    expect(page.locator('#status-filter button[data-status="FAILED"]')).to_have_attribute(
        "aria-pressed", "true"
    )
    page.click('#status-filter button[data-status="ALL"]')
    expect(page.locator(ROWS)).to_have_count(1)  # killed-run: the filter box still holds
    assert not page.errors


def test_nested_runs_expand_into_a_tree(page: Any, table: Table) -> None:
    _open(page, table)
    children = [table.ids[f"trial-{i}"] for i in range(3)]
    parent = page.locator(table.row("sweep"))
    expander = parent.locator("button.expander")
    expect(expander).to_have_text("▸ 3")
    expect(expander).to_have_attribute("aria-expanded", "false")
    nested = page.locator(f'{ROWS}[data-parent-id="{table.ids["sweep"]}"]')
    expect(nested).to_have_count(0)
    expander.click()
    expect(nested).to_have_count(3)
    expect(expander).to_have_text("▾ 3")
    assert {r.get_attribute("data-run-id") for r in nested.all()} == set(children)
    expect(nested.first).to_have_attribute("data-depth", "1")
    # The children follow their parent, indented.
    ids = page.locator(ROWS).evaluate_all("(rows) => rows.map((r) => r.dataset.runId)")
    at = ids.index(table.ids["sweep"])
    assert set(ids[at + 1 : at + 4]) == set(children)
    parent_x = parent.locator("a.run-link").bounding_box()["x"]
    child_x = nested.first.locator("a.run-link").bounding_box()["x"]
    assert child_x > parent_x + 10
    assert _query(page)["open"] == [table.ids["sweep"]]
    screenshot(page, "runs-tree")
    page.reload()  # expanded parents are in the address too
    expect(nested).to_have_count(3)
    page.locator(f"{table.row('sweep')} button.expander").click()
    expect(nested).to_have_count(0)
    assert not page.errors


def test_the_run_name_column_stays_pinned_when_scrolling_sideways(page: Any, table: Table) -> None:
    _open(page, table)
    name = page.locator(f"{table.row('ok-0')} .cell.name")
    box = page.locator(f"{table.row('ok-0')} .cell").first
    param = page.locator(f"{table.row('ok-0')} .cell", has_text="value-0")
    header = page.locator('#runs-table .th[data-column="attributes.run_name"]')
    before = [name.bounding_box(), box.bounding_box(), param.bounding_box(), header.bounding_box()]
    scrolled = page.locator("#runs-scroll").evaluate(
        "(s) => { s.scrollLeft = 600; return s.scrollLeft; }"
    )
    assert scrolled == 600  # the table is wider than the window
    after = [name.bounding_box(), box.bounding_box(), param.bounding_box(), header.bounding_box()]
    assert after[0]["x"] == before[0]["x"] and after[1]["x"] == before[1]["x"]
    assert after[3]["x"] == before[3]["x"]  # the header's run cell too
    assert after[2]["x"] == pytest.approx(before[2]["x"] - 600, abs=1)
    # Nothing of the scrolled cells shows through the pinned one: it is painted on top.
    x = after[0]["x"] + after[0]["width"] / 2
    y = after[0]["y"] + after[0]["height"] / 2
    on_top = page.evaluate(
        "([x, y]) => document.elementFromPoint(x, y).closest('.cell').classList.contains('name')",
        [x, y],
    )
    assert on_top
    screenshot(page, "runs-scrolled")
    assert not page.errors


def test_dragging_a_header_edge_resizes_the_column(page: Any, table: Table) -> None:
    _open(page, table)
    header = page.locator('#runs-table .th[data-column="attributes.user_id"]')
    # Cells: box, run, status, started, duration, user.
    cell = page.locator(f"{table.row('ok-0')} .cell").nth(5)
    expect(cell).to_have_text("root")
    width = header.bounding_box()["width"]
    handle = header.locator(".col-resize").bounding_box()
    x, y = handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 40, y)
    page.mouse.move(x + 90, y)
    page.mouse.up()
    assert header.bounding_box()["width"] == pytest.approx(width + 90, abs=2)
    assert cell.bounding_box()["width"] == pytest.approx(width + 90, abs=2)
    assert "sort" not in _query(page)  # a drag is not a sort click
    expect(header).not_to_have_attribute("aria-sort", "descending")
    page.reload()  # the reader's widths stay (in this browser)
    expect(page.locator(ROWS).first).to_be_visible()
    assert page.locator('#runs-table .th[data-column="attributes.user_id"]').bounding_box()[
        "width"
    ] == pytest.approx(width + 90, abs=2)
    assert not page.errors


def test_dataset_and_model_version_columns(page: Any, table: Table) -> None:
    searches: list[str] = []
    page.on(
        "request", lambda r: searches.append(r.url) if "model-versions/search" in r.url else None
    )
    _open(page, table)
    dataset = page.locator(f"{table.row('with-data')} .badge.dataset")
    expect(dataset).to_have_text("imagenet-mini")
    assert "training" in (dataset.get_attribute("title") or "")
    link = page.locator(f"{table.row('ok-2')} a.model-version")
    expect(link).to_have_text("table-model v1")
    expect(page.locator(f"{table.row('ok-1')} a.model-version")).to_have_count(0)
    # One batched search for the rows on screen, not one per row.
    assert len(searches) == 1 and "run_id+IN" in searches[0]
    link.click()
    expect(page).to_have_url(f"{table.url}/#/models/table-model/versions/1")
    expect(page.locator("main")).to_contain_text("table-model")
    assert not page.errors


def test_an_empty_experiment_shows_how_to_log_a_first_run(page: Any, table: Table) -> None:
    page.goto(f"{table.url}/#/experiments/{table.empty_id}")
    snippet = page.locator("#runs-empty pre")
    expect(snippet).to_contain_text('cairn.set_experiment("empty-exp")')
    expect(snippet).to_contain_text("with cairn.start_run():")
    expect(snippet).to_contain_text('cairn.log_metric("loss", 0.5)')
    expect(page.locator("#runs-table")).to_be_hidden()
    expect(page.locator("h1")).to_have_text("empty-exp")
    screenshot(page, "runs-empty")
    assert not page.errors


def test_a_bad_filter_replaces_the_rows_with_the_error(page: Any, table: Table) -> None:
    _open(page, table)
    expect(page.locator(ROWS).first).to_be_visible()
    page.fill("#filter", "metrics.acc >>> 1")
    page.press("#filter", "Enter")
    expect(page.locator("#filter-error .error")).to_contain_text("INVALID_PARAMETER_VALUE")
    expect(page.locator(ROWS)).to_have_count(0)
    expect(page.locator("#runs-table")).to_be_hidden()
    expect(page.locator("#runs-status")).to_have_text("")
    page.fill("#filter", "")
    page.press("#filter", "Enter")
    expect(page.locator("#filter-error")).to_be_empty()
    expect(page.locator(ROWS).first).to_be_visible()
    assert not page.errors


def test_experiments_page_relative_times_and_empty_state(page: Any, table: Table) -> None:
    page.goto(table.url + "/")
    row = page.locator("#experiments tr", has_text="runs-table")
    expect(row.locator("td.last-activity time.relative")).to_have_text("just now")
    created = row.locator("td.created time.relative")
    expect(created).to_have_text("just now")
    assert created.get_attribute("title")
    page.fill("#experiment-filter", "empty")
    expect(page.locator("#experiments tbody tr:visible")).to_have_count(1)
    expect(page.locator("#experiments tbody tr:visible")).to_contain_text("empty-exp")
    page.fill("#experiment-filter", "")
    screenshot(page, "experiments-relative")

    # A server with no experiment (or none this user may read): what to do instead.
    page.route(
        "**/ajax-api/2.0/mlflow/experiments/search*",
        lambda route: route.fulfill(json={"experiments": []}),
    )
    page.reload()
    expect(page.locator("#experiments-empty pre")).to_contain_text("cairn.start_run()")
    expect(page.locator("#experiments")).to_be_hidden()
    screenshot(page, "experiments-empty")
    assert not page.errors
