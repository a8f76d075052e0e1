"""Each page of the web UI in headless Chromium against a live server with seeded runs."""

from __future__ import annotations

import http.client
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect
from ui_support import GIT_COMMIT, XSS_NAME, Seeded, screenshot

ROWS = "#runs-table .vt-row[data-run-id]"


def _get(url: str) -> tuple[int, dict[str, str], bytes]:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    try:
        connection.request("GET", parts.path)
        response = connection.getresponse()
        return response.status, dict(response.headers), response.read()
    finally:
        connection.close()


def test_index_and_assets_are_served_with_a_strict_policy(seeded: Seeded) -> None:
    status, headers, body = _get(seeded.url + "/")
    assert status == 200
    policy = headers["content-security-policy"]
    assert "default-src 'self'" in policy and "script-src 'self';" in policy
    assert "unsafe-eval" not in policy
    assert b'type="module"' in body and b"<script>" not in body
    status, headers, _ = _get(seeded.url + "/static/vendor/plotly.min.js")
    assert status == 200 and headers["content-type"].startswith("text/javascript")
    assert _get(seeded.url + "/static/../server/ui.py")[0] == 404
    assert _get(seeded.url + "/static/nothing.js")[0] == 404


def _runs_page(page: Any, seeded: Seeded) -> None:
    page.goto(f"{seeded.url}/#/experiments/{seeded.experiment_id}")
    # "child" is nested under run-0, hidden until run-0 is expanded: one row fewer.
    expect(page.locator("#runs-status")).to_have_text(f"{len(seeded.run_ids)} runs")
    expect(page.locator(ROWS)).to_have_count(len(seeded.run_ids) - 1)


def test_experiments_page_lists_run_counts(page: Any, seeded: Seeded) -> None:
    searched: list[str] = []
    page.on("request", lambda r: searched.append(r.url) if "runs/search" in r.url else None)
    with page.expect_response(lambda r: "/cairn/experiments/run-counts" in r.url) as counted:
        page.goto(seeded.url + "/")
    assert counted.value.status == 200
    counts = counted.value.json()["counts"]
    assert counts[seeded.experiment_id]["runs"] == len(seeded.run_ids)
    row = page.locator("#experiments tr", has_text="ui-demo")
    expect(row.locator("td").nth(2)).to_have_text(str(len(seeded.run_ids)))
    last = max(
        max(r.info.start_time, r.info.end_time or 0)
        for r in seeded.client.search_runs([seeded.experiment_id])
    )
    assert counts[seeded.experiment_id]["last_activity"] == last
    expect(row.locator("td.last-activity")).not_to_be_empty()
    default = page.locator('#experiments tr[data-experiment-id="0"] td.runs')
    expect(default).to_have_text("0")
    assert not searched  # counted in one call, not by paging runs
    screenshot(page, "experiments")
    page.fill("#new-experiment", "made-in-the-ui")
    page.click("text=Create")
    expect(page.locator("#experiments", has_text="made-in-the-ui")).to_be_visible()
    assert seeded.client.get_experiment_by_name("made-in-the-ui") is not None
    assert not page.errors


def test_runs_page_keeps_an_html_run_name_as_text(page: Any, seeded: Seeded) -> None:
    _runs_page(page, seeded)
    link = page.locator(f'{ROWS}[data-run-id="{seeded.run_ids["xss"]}"] a.run-link')
    expect(link).to_have_text(XSS_NAME)
    assert page.locator("#runs-table img").count() == 0
    screenshot(page, "runs")
    assert not page.dialogs and not page.errors


def test_filter_box_filters_and_shows_grammar_errors(page: Any, seeded: Seeded) -> None:
    _runs_page(page, seeded)
    page.fill("#filter", "params.optimizer = 'sgd'")
    page.press("#filter", "Enter")
    expect(page.locator(ROWS)).to_have_count(2)
    expect(page.locator("#runs-status")).to_have_text("2 runs")
    page.fill("#filter", "params.optimizer === 'sgd' and")
    page.press("#filter", "Enter")
    expect(page.locator("#filter-error .error")).to_contain_text("INVALID_PARAMETER_VALUE")
    screenshot(page, "runs-filter-error")


def _names(page: Any) -> list[str]:
    return [t for t in page.locator(f"{ROWS} a.run-link").all_inner_texts()]


def test_sorting_by_a_metric_column(page: Any, seeded: Seeded) -> None:
    _runs_page(page, seeded)
    header = page.locator('#runs-table .th[data-column="metrics.`accuracy`"]')
    header.click()
    expect(header).to_contain_text("▼")
    expect(page.locator(f"{ROWS} a.run-link").first).to_have_text("run-3")
    assert _names(page)[:4] == ["run-3", "run-2", "run-1", "run-0"]
    header.click()
    expect(page.locator(f"{ROWS} a.run-link").first).to_have_text("run-0")
    assert _names(page)[:4] == ["run-0", "run-1", "run-2", "run-3"]


def test_grouping_by_a_param(page: Any, seeded: Seeded) -> None:
    _runs_page(page, seeded)
    page.select_option("#group-by", label="params.optimizer")
    expect(page.locator("#runs-table .vt-row.group")).to_have_count(4)  # adam, sgd, XSS, none


def test_run_page(page: Any, seeded: Seeded) -> None:
    run_id = seeded.run_ids["run-0"]
    page.goto(f"{seeded.url}/#/runs/{run_id}")
    expect(page.locator("#run-name")).to_have_text("run-0")
    expect(page.locator("#params")).to_contain_text("optimizer")
    expect(page.locator("#overview-metrics tr", has_text="loss")).to_contain_text("0.0333333")
    expect(page.locator("#overview")).to_contain_text("child")
    expect(page.locator("#git-commit")).to_have_text(GIT_COMMIT)
    diff = page.locator("#diff-link")
    expect(diff).to_have_text("source/uncommitted.diff")
    assert page.request.get(seeded.url + diff.get_attribute("href")).text().startswith("--- a/")
    page.fill("#tag-key", "reviewed")
    page.fill("#tag-value", "yes")
    page.click("text=Set tag")
    expect(page.locator("#tags")).to_contain_text("reviewed")
    assert seeded.client.get_run(run_id).data.tags["reviewed"] == "yes"
    screenshot(page, "run")
    page.click('[role="tab"][data-tab="metrics"]')
    expect(page.locator("#metrics tr", has_text="loss")).to_contain_text("0.0333333")
    page.click('[role="tab"][data-tab="datasets"]')
    inputs = page.locator('#datasets tr[data-role="input"]')
    expect(inputs).to_have_count(1)
    expect(inputs).to_contain_text("train-set")
    expect(inputs.locator("td.context")).to_have_text("training")
    outputs = page.locator('#datasets tr[data-role="output"]')
    expect(outputs).to_contain_text("predictions")
    expect(outputs.locator("td.context")).to_have_text("predictions")
    page.click('[role="tab"][data-tab="models"]')
    model = page.locator("#logged-models tbody tr")
    expect(model).to_have_count(1)
    expect(model).to_contain_text("resnet-small")
    expect(model.locator("td").nth(4)).to_have_text("3")
    page.click('[role="tab"][data-tab="artifacts"]')
    page.click("#artifact-tree >> text=config.yaml")
    expect(page.locator("#artifact-preview pre")).to_have_text("hello: world\n")
    page.click("#artifact-tree >> text=data/")
    page.click("#artifact-tree >> text=table.csv")
    expect(page.locator("#artifact-preview td").first).to_have_text("1")
    page.click("#artifact-tree >> text=scores.json")  # log_table's JSON layout: a table
    cells = page.locator("#artifact-preview table.json-table td")
    expect(cells).to_have_text(["<b>x</b>", "0.5", "y", "null"])
    expect(page.locator("#artifact-preview th")).to_have_text(["name", "score"])
    assert page.locator("#artifact-preview b").count() == 0
    assert not page.errors


def _pdf(*pages: str) -> bytes:
    """A small valid PDF: one line of Helvetica per page, with its cross-reference table."""
    count = len(pages)
    kids = " ".join(f"{3 + 2 * i} 0 R" for i in range(count))
    font = 3 + 2 * count
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{kids}] /Count {count} >>".encode(),
    ]
    for i, text in enumerate(pages):
        content = f"BT /F1 24 Tf 40 100 Td ({text}) Tj ET".encode()
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 300 200] /Contents {4 + 2 * i} 0 R "
            f"/Resources << /Font << /F1 {font} 0 R >> >> >>".encode()
        )
        objects.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content))
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    table = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        table,
    )
    return bytes(out)


def test_a_pdf_artifact_previews_inline(page: Any, seeded: Seeded) -> None:
    """The PDF shows in the browser's viewer, framed from a blob: URL of its bytes; the
    download endpoint still answers it, and an HTML artifact, as an inert attachment."""
    client = seeded.client
    run_id = client.create_run(client.create_experiment("pdf-preview")).info.run_id
    root = client.get_run(run_id).info.artifact_uri.removeprefix("mlflow-artifacts:").strip("/")
    url = f"/ajax-api/2.0/mlflow-artifacts/artifacts/{root}/report.pdf"
    pdf = _pdf("Cairn PDF", "Page two")
    files = {"report.pdf": pdf, "page.html": b"<script>alert(1)</script>"}
    for name, body in files.items():  # through the proxy, as a tracking client uploads
        target = seeded.url + url.replace("report.pdf", name)
        assert page.request.put(target, data=body).status == 200

    answer = page.request.get(seeded.url + url)
    assert answer.status == 200 and answer.body() == pdf
    assert answer.headers["content-type"] == "application/pdf"
    assert answer.headers["content-disposition"].startswith("attachment")
    assert "sandbox" in answer.headers["content-security-policy"]
    html = page.request.get(seeded.url + url.replace("report.pdf", "page.html"))
    assert html.headers["content-type"].startswith("text/plain")
    assert html.headers["content-disposition"].startswith("attachment")

    page.goto(f"{seeded.url}/#/runs/{run_id}?tab=artifacts")
    expect(page.locator("#artifact-tree")).to_contain_text("report.pdf")
    preview = page.locator("#artifact-preview")
    page.click("#artifact-tree >> text=page.html")
    expect(preview).to_contain_text("No preview for this file.")
    if not page.evaluate("navigator.pdfViewerEnabled"):
        page.click("#artifact-tree >> text=report.pdf")
        expect(preview).to_contain_text("No preview for this file.")
        pytest.skip("this Chromium has no PDF viewer: the preview offers the download only")

    def is_viewer(frame: Any) -> bool:
        return str(frame.url).startswith("chrome-extension://")

    with page.expect_event("framenavigated", is_viewer) as navigated:
        page.click("#artifact-tree >> text=report.pdf")
    frame = preview.locator("iframe.pdf")
    shown = f"/ajax-api/2.0/cairn/artifacts/get?run_id={run_id}&path=report.pdf"
    expect(frame).to_have_attribute("data-artifact", shown)
    expect(preview.locator(f'a[href="{shown}"]')).to_have_text("Download report.pdf")
    assert page.request.get(seeded.url + shown).body() == pdf
    source = frame.get_attribute("src") or ""
    assert source.startswith(f"blob:{seeded.url}/")
    assert source in [f.url for f in page.frames]
    # The viewer parsed these bytes: it counts the two pages.
    expect(navigated.value.locator("viewer-page-selector #pagelength")).to_have_text("2")
    screenshot(page, "run-pdf")
    # Another file takes the PDF's place.
    page.click("#artifact-tree >> text=page.html")
    expect(preview.locator("iframe")).to_have_count(0)
    assert not page.errors and not page.dialogs


def test_xss_run_page_and_tags_stay_text(page: Any, seeded: Seeded) -> None:
    page.goto(f"{seeded.url}/#/runs/{seeded.run_ids['xss']}")
    expect(page.locator("#run-name")).to_have_text(XSS_NAME)
    expect(page.locator("#tags")).to_contain_text(XSS_NAME)
    assert page.locator("main img").count() == 0 and not page.dialogs


def test_chart_shows_one_series_per_run(page: Any, seeded: Seeded) -> None:
    ids = [seeded.run_ids[f"run-{i}"] for i in range(4)]
    page.goto(f"{seeded.url}/#/charts?runs={','.join(ids)}&key=loss")
    chart = page.locator("#chart[data-series]")
    expect(chart).to_have_attribute("data-series", "4", timeout=20_000)  # plotly loads first
    expect(page.locator("#chart .legend .traces")).to_have_count(4)
    expect(page.locator("#downloads a")).to_have_count(4)
    screenshot(page, "charts")
    assert not page.errors


def test_compare_highlights_a_differing_param(page: Any, seeded: Seeded) -> None:
    ids = [seeded.run_ids["run-0"], seeded.run_ids["run-1"]]
    page.goto(f"{seeded.url}/#/compare?runs={','.join(ids)}")
    expect(page.locator('#compare-params tr[data-key="lr"]')).to_have_class("diff")
    expect(page.locator('#compare-params tr[data-key="optimizer"]')).not_to_have_class("diff")
    # The parallel coordinates are SVG (parallel.js); data-drawn is set once they are.
    expect(page.locator("#parcoords[data-drawn]")).to_have_count(1)
    expect(page.locator("#scatter .scatterlayer")).to_have_count(1)
    screenshot(page, "compare")
    assert not page.errors


def test_stage_transition_in_the_ui_reaches_the_client(page: Any, seeded: Seeded) -> None:
    page.goto(f"{seeded.url}/#/models")
    page.click("#models >> text=classifier")
    row = page.locator('#versions tr[data-version="1"]')
    row.locator("select").select_option("Staging")
    row.locator("button.transition").click()
    expect(page.locator('#versions tr[data-version="1"] td.stage')).to_have_text("Staging")
    expect(page.locator("#history")).to_contain_text("Staging")
    stage = seeded.client.get_model_version("classifier", 1).current_stage
    assert getattr(stage, "value", stage) == "Staging"
    screenshot(page, "registry")
    assert not page.errors


def test_registry_lineage_and_aliases(page: Any, seeded: Seeded) -> None:
    page.goto(f"{seeded.url}/#/models/classifier")
    row = page.locator('#versions tr[data-version="1"]')
    row.locator('input[aria-label="Alias"]').fill("champion")
    row.locator("button.set-alias").click()
    alias = page.locator('#versions tr[data-version="1"] .alias[data-alias="champion"]')
    expect(alias).to_be_visible()
    assert str(seeded.client.get_model_version_by_alias("classifier", "champion").version) == "1"
    expect(page.locator("#history")).to_contain_text("@champion")
    screenshot(page, "registry-alias")
    alias.locator("button.delete-alias").click()
    expect(alias).to_have_count(0)
    assert "champion" not in seeded.client.get_registered_model("classifier").aliases
    # The version's lineage: a link to the run that made it.
    page.locator('#versions tr[data-version="1"] td.lineage a.run-link').click()
    expect(page.locator("#run-name")).to_have_text("run-0")
    assert not page.errors
