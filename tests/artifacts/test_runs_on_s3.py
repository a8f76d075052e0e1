"""Runs whose experiments keep artifacts on S3 (CAIRN_ARTIFACT_ROOT=s3://…), end to end."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import cairn


@pytest.fixture
def s3_root(
    workdir: Path, moto_endpoint: str, s3_client: Any, monkeypatch: pytest.MonkeyPatch
) -> str:
    bucket = f"runs-{uuid.uuid4().hex[:12]}"
    s3_client.create_bucket(Bucket=bucket)
    monkeypatch.setenv("CAIRN_S3_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("CAIRN_ARTIFACT_ROOT", f"s3://{bucket}/cairn")
    return bucket


def test_fluent_runs_log_to_s3_and_read_back(workdir: Path, s3_root: str, s3_client: Any) -> None:
    cairn.set_experiment("on-s3")
    (workdir / "weights.bin").write_bytes(bytes(range(256)) * 100)
    with cairn.start_run() as run:
        cairn.log_artifact(str(workdir / "weights.bin"), "model")
        cairn.log_dict({"depth": 4}, "config.yaml")
        cairn.log_image(np.zeros((3, 3)), key="frames", step=2)
    run_id = run.info.run_id
    artifact_uri = cairn.get_run(run_id).info.artifact_uri
    assert artifact_uri.startswith(f"s3://{s3_root}/cairn/") and artifact_uri.endswith(
        f"/{run_id}/artifacts"
    )
    keys = {o["Key"] for o in s3_client.list_objects_v2(Bucket=s3_root)["Contents"]}
    prefix = artifact_uri.removeprefix(f"s3://{s3_root}/")
    assert {f"{prefix}/model/weights.bin", f"{prefix}/config.yaml"} <= keys
    assert cairn.artifacts.load_dict(f"runs:/{run_id}/config.yaml") == {"depth": 4}
    listed = cairn.artifacts.list_artifacts(run_id=run_id, artifact_path="images/frames")
    assert [e.path for e in listed][0].startswith("images/frames/step_0000000002_")
    local = cairn.artifacts.download_artifacts(
        run_id=run_id, artifact_path="model", dst_path=str(workdir / "out")
    )
    assert Path(local, "weights.bin").read_bytes() == bytes(range(256)) * 100
