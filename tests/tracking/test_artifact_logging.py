"""Logging files and Python objects to a run, and reading them back (fluent, Client, loaders)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

import cairn
from cairn.exceptions import InvalidParameterValueError, ResourceDoesNotExistError


@pytest.fixture
def run_id(workdir: Path) -> str:
    with cairn.start_run() as run:
        pass
    return run.info.run_id


def _files(client: cairn.Client, run_id: str, path: str | None = None) -> list[str]:
    found = []
    for entry in client.list_artifacts(run_id, path):
        found.extend(_files(client, run_id, entry.path) if entry.is_dir else [entry.path])
    return found


def test_files_and_directories_round_trip(workdir: Path, run_id: str) -> None:
    (workdir / "model").mkdir()
    (workdir / "model" / "weights.bin").write_bytes(bytes(range(256)) * 4)
    (workdir / "model" / "nested").mkdir()
    (workdir / "model" / "nested" / "empty.txt").write_bytes(b"")
    client = cairn.Client()
    client.log_artifact(run_id, str(workdir / "model" / "weights.bin"))
    client.log_artifacts(run_id, str(workdir / "model"), "model")
    assert _files(client, run_id) == ["model/nested/empty.txt", "model/weights.bin", "weights.bin"]
    sizes = {e.path: e.file_size for e in client.list_artifacts(run_id, "model")}
    assert sizes == {"model/nested": None, "model/weights.bin": 1024}
    local = client.download_artifacts(run_id, "model", str(workdir / "out"))
    assert Path(local, "weights.bin").read_bytes() == bytes(range(256)) * 4
    assert Path(local, "nested", "empty.txt").read_bytes() == b""
    assert client.get_artifact_uri(run_id, "model").endswith(f"{run_id}/artifacts/model")


def test_text_dicts_and_tables(run_id: str) -> None:
    client = cairn.Client()
    client.log_text(run_id, "héllo\n", "notes/readme.md")
    client.log_dict(run_id, {"lr": 0.1, "layers": [64, 32]}, "config.json")
    client.log_dict(run_id, {"lr": 0.1, "layers": [64, 32]}, "config.yaml")
    client.log_table(run_id, {"x": [1, 2], "y": ["a", "b"]}, "eval/table.json")
    client.log_table(run_id, pd.DataFrame({"x": [3], "y": ["c"]}), "eval/table.json")
    uri = f"runs:/{run_id}"
    assert cairn.artifacts.load_text(f"{uri}/notes/readme.md") == "héllo\n"
    assert cairn.artifacts.load_dict(f"{uri}/config.json") == {"lr": 0.1, "layers": [64, 32]}
    assert cairn.artifacts.load_dict(f"{uri}/config.yaml") == {"lr": 0.1, "layers": [64, 32]}
    raw = Path(client.download_artifacts(run_id, "config.yaml")).read_text()
    assert yaml.safe_load(raw) == {"lr": 0.1, "layers": [64, 32]} and "{" not in raw
    table = cairn.artifacts.load_table(
        "eval/table.json", run_ids=[run_id], extra_columns=["run_id"]
    )
    assert table.to_dict("list") == {"x": [1, 2, 3], "y": ["a", "b", "c"], "run_id": [run_id] * 3}
    listed = json.loads(client.get_run(run_id).data.tags["mlflow.loggedArtifacts"])
    assert listed == [{"path": "eval/table.json", "type": "table"}]


def test_load_table_defaults_to_the_runs_of_the_active_experiment(workdir: Path) -> None:
    cairn.set_experiment("tables")
    for score in (0.1, 0.2):
        with cairn.start_run():
            cairn.log_table({"score": score}, "scores.json")
    with cairn.start_run():
        pass  # a run without the table is skipped
    table = cairn.artifacts.load_table("scores.json")
    assert sorted(table["score"]) == [0.1, 0.2]


@pytest.mark.parametrize(
    ("array", "mode", "size"),
    [
        (np.zeros((5, 7), dtype=np.uint8), "L", (7, 5)),
        (np.full((5, 7, 1), 200, dtype=np.uint8), "L", (7, 5)),
        (np.random.default_rng(0).random((4, 6, 3)), "RGB", (6, 4)),
        (np.ones((3, 3, 4), dtype=np.float32), "RGBA", (3, 3)),
        (np.arange(9, dtype=np.int64).reshape(3, 3), "L", (3, 3)),
    ],
)
def test_images_from_arrays(run_id: str, array: np.ndarray, mode: str, size: tuple) -> None:
    cairn.Client().log_image(run_id, array, "img.png")
    image = cairn.artifacts.load_image(f"runs:/{run_id}/img.png")
    assert (image.mode, image.size) == (mode, size)
    expected = array if array.dtype == np.uint8 else None
    if expected is not None:
        assert np.array_equal(np.asarray(image), expected.reshape(expected.shape[:2]))


def test_images_from_pil_and_image_series(run_id: str) -> None:
    from PIL import Image

    client = cairn.Client()
    client.log_image(run_id, Image.new("RGB", (2, 3), (255, 0, 0)), "red.jpg")
    assert cairn.artifacts.load_image(f"runs:/{run_id}/red.jpg").size == (2, 3)
    for step in (0, 1, 10):
        client.log_image(run_id, np.zeros((2, 2)), key="val/masks", step=step, timestamp=5)
    names = [e.path for e in client.list_artifacts(run_id, "images/val/masks")]
    assert names == [f"images/val/masks/step_{s:010d}_5.png" for s in (0, 1, 10)]


@pytest.mark.parametrize(
    "bad",
    [np.zeros((2, 2, 2)), np.full((2, 2), 1.5), np.full((2, 2), -1), np.zeros((2,)), "text"],
)
def test_bad_images_are_refused_and_nothing_is_stored(run_id: str, bad: object) -> None:
    with pytest.raises((InvalidParameterValueError, TypeError)):
        cairn.Client().log_image(run_id, bad, "bad.png")
    assert cairn.Client().list_artifacts(run_id) == []


def test_figures_from_matplotlib_and_plotly(run_id: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import plotly.graph_objects as go

    figure, axes = plt.subplots()
    axes.plot([1, 2, 3])
    client = cairn.Client()
    client.log_figure(run_id, figure, "plots/line.png")
    client.log_figure(run_id, figure, "plots/line.svg")
    plt.close(figure)
    plotly_figure = go.Figure(go.Scatter(x=[1, 2], y=[3, 4]))
    client.log_figure(run_id, plotly_figure, "plots/line.html")
    client.log_figure(run_id, plotly_figure, "plots/line.json")
    png = Path(client.download_artifacts(run_id, "plots/line.png")).read_bytes()
    assert png.startswith(b"\x89PNG")
    svg = Path(client.download_artifacts(run_id, "plots/line.svg")).read_text()
    assert "<svg" in svg
    html = Path(client.download_artifacts(run_id, "plots/line.html")).read_text()
    assert "plotly" in html.lower() and "<div" in html
    assert cairn.artifacts.load_dict(f"runs:/{run_id}/plots/line.json")["data"][0]["y"] == [3, 4]
    with pytest.raises(InvalidParameterValueError, match="matplotlib or a plotly"):
        client.log_figure(run_id, object(), "plots/x.png")


def test_fluent_functions_log_to_the_active_run(workdir: Path) -> None:
    (workdir / "a.txt").write_text("a")
    with cairn.start_run() as run:
        cairn.log_artifact(str(workdir / "a.txt"), "files")
        cairn.log_artifacts(str(workdir), "all")
        cairn.log_text("t", "t.txt")
        cairn.log_dict({"k": 1}, "d.json")
        cairn.log_image(np.zeros((2, 2)), "i.png")
        cairn.log_table({"c": [1]}, "tbl.json")
        root = cairn.get_artifact_uri()
    assert root == cairn.get_run(run.info.run_id).info.artifact_uri
    assert os.path.isdir(root)
    client = cairn.Client()
    names = {e.path for e in client.list_artifacts(run.info.run_id)}
    assert names == {"files", "all", "t.txt", "d.json", "i.png", "tbl.json"}
    # "." holds ./cairn-data, and so this run's own artifact folder: that one is left out
    # rather than copied into itself over and over.
    copied = _files(client, run.info.run_id, "all")
    assert "all/a.txt" in copied
    assert not any(f"{run.info.run_id}/artifacts" in path for path in copied)


@pytest.mark.parametrize("path", ["../x", "a/../../x", "/etc", "%2e%2e/x", "a\\..\\x"])
def test_unsafe_paths_are_refused_everywhere(workdir: Path, run_id: str, path: str) -> None:
    (workdir / "f.txt").write_text("f")
    client = cairn.Client()
    for call in (
        lambda: client.log_artifact(run_id, str(workdir / "f.txt"), path),
        lambda: client.log_text(run_id, "x", path),
        lambda: client.list_artifacts(run_id, path),
        lambda: client.download_artifacts(run_id, path),
    ):
        with pytest.raises(InvalidParameterValueError):
            call()
    assert client.list_artifacts(run_id) == []


def test_deleted_runs_take_no_artifacts_and_missing_ones_are_reported(
    workdir: Path, run_id: str
) -> None:
    client = cairn.Client()
    with pytest.raises(ResourceDoesNotExistError):
        client.download_artifacts(run_id, "nothing.txt")
    client.delete_run(run_id)
    with pytest.raises(InvalidParameterValueError, match="active"):
        client.log_text(run_id, "x", "x.txt")
    with pytest.raises(InvalidParameterValueError):
        cairn.artifacts.download_artifacts("runs:/x", run_id=run_id)
