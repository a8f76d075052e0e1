"""The experiments page's Storage column, on the README's path: the quickstart logs to
./cairn-data (no server), `cairn ui` in that folder serves it, and each experiment's row
shows its artifact size and metric points, from one request for all the page's
experiments."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from playwright.sync_api import expect
from ui_support import local_cairn_ui, require_browser, run_quickstart, screenshot

from cairn.cli.storage import human_size
from cairn.entities.storage import ExperimentStorage
from cairn.store.sql.tracking import SqlTrackingStore


@dataclass
class Served:
    url: str
    figures: dict[str, ExperimentStorage]  # by experiment id, as the store keeps them
    names: dict[str, str]  # experiment id → name


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    require_browser()
    folder = tmp_path_factory.mktemp("storage-column")
    run_quickstart(folder)
    data = folder / "cairn-data"
    store = SqlTrackingStore(f"sqlite:///{data / 'cairn.db'}", str(data / "artifacts"))
    try:
        store.create_experiment("empty")
        names = {e.experiment_id: e.name for e in store.search_experiments()}
        figures = store.experiment_storage(list(names))
    finally:
        store.close()
    with local_cairn_ui(folder) as url:
        yield Served(url, figures, names)


def test_each_experiment_shows_its_storage(page: Any, served: Served) -> None:
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url) if "/cairn/storage" in r.url else None)
    page.goto(served.url + "/#/")
    churn = next(e for e, name in served.names.items() if name == "churn")
    kept = served.figures[churn]
    assert kept.metric_points > 0 and kept.artifact_bytes > 0
    cell = page.locator(f'#experiments tr[data-experiment-id="{churn}"] td.storage')
    expect(cell).to_have_text(f"{human_size(kept.artifact_bytes)} · {kept.metric_points:,} points")
    assert f"{kept.artifact_files:,} artifact files" in (cell.get_attribute("title") or "")
    empty = next(e for e, name in served.names.items() if name == "empty")
    expect(page.locator(f'#experiments tr[data-experiment-id="{empty}"] td.storage')).to_have_text(
        "0 B · 0 points"
    )
    header = page.locator("#experiments thead th").nth(3)
    expect(header).to_have_text("Storage")
    assert len(asked) == 1  # one request for every experiment on the page
    assert {churn, empty} <= set(asked[0].split("experiment_ids=")[1].split("&")[0].split("%2C"))
    screenshot(page, "experiments-storage")
    assert not page.errors
