"""An MLflow database at an older schema revision, as MLflow 2.x left it:
`python mlflow2_store.py DB_URL REVISION`.

The schema comes from MLflow's own migrations (its initial tables, then `alembic upgrade`
to REVISION), so it is exactly what that release created. The rows are written the way
2.x wrote them (NaN as 0 with is_nan, the latest value of each metric kept beside the
history), only into the tables that revision has.
"""

from __future__ import annotations

import sys

import sqlalchemy as sa
from alembic import command
from mlflow.store.db.utils import _get_alembic_config
from mlflow.store.tracking.dbmodels.initial_models import Base as InitialBase

RUN = "0123456789abcdef0123456789abcdef"
T0 = 1_600_000_000_000


def create(url: str, revision: str) -> sa.Engine:
    engine = sa.create_engine(url)
    InitialBase.metadata.create_all(engine)
    config = _get_alembic_config(url)
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)
    return engine


def fill(engine: sa.Engine) -> None:
    meta = sa.MetaData()
    meta.reflect(engine)
    t = meta.tables
    with engine.begin() as conn:
        conn.execute(
            t["experiments"].insert(),
            [
                {"experiment_id": 0, "name": "Default", "artifact_location": "/tmp/mlruns/0",
                 "lifecycle_stage": "active"},
                {"experiment_id": 7, "name": "legacy", "artifact_location": "/tmp/mlruns/7",
                 "lifecycle_stage": "active"},
            ],
        )  # fmt: skip
        conn.execute(t["experiment_tags"].insert(), {"experiment_id": 7, "key": "k", "value": "v"})
        conn.execute(
            t["runs"].insert(),
            {
                "run_uuid": RUN, "name": "old-run", "source_type": "LOCAL", "source_name": "x.py",
                "entry_point_name": "", "user_id": "alice", "status": "FINISHED",
                "start_time": T0, "end_time": T0 + 5000, "source_version": "",
                "lifecycle_stage": "active", "artifact_uri": "/tmp/mlruns/7/r/artifacts",
                "experiment_id": 7,
            },
        )  # fmt: skip
        conn.execute(t["params"].insert(), {"run_uuid": RUN, "key": "alpha", "value": "0.5"})
        conn.execute(
            t["tags"].insert(),
            [
                {"run_uuid": RUN, "key": "mlflow.runName", "value": "old-run"},
                {"run_uuid": RUN, "key": "mlflow.user", "value": "alice"},
            ],
        )
        points = [
            {"key": "rmse", "value": 1.0 / (s + 1), "timestamp": T0 + s, "run_uuid": RUN,
             "step": s, "is_nan": False}
            for s in range(1_000)
        ] + [{"key": "rmse", "value": 0.0, "timestamp": T0 + 2_000, "run_uuid": RUN,
              "step": 1_000, "is_nan": True}]  # fmt: skip
        conn.execute(t["metrics"].insert(), points)
        conn.execute(
            t["latest_metrics"].insert(),
            {"key": "rmse", "value": 0.0, "timestamp": T0 + 2_000, "step": 1_000,
             "is_nan": True, "run_uuid": RUN},
        )  # fmt: skip
        if "datasets" in t:
            conn.execute(
                t["datasets"].insert(),
                {"dataset_uuid": "d1", "experiment_id": 7, "name": "iris", "digest": "abc",
                 "dataset_source_type": "local", "dataset_source": "{}"},
            )  # fmt: skip
            conn.execute(
                t["inputs"].insert(),
                {"input_uuid": "i1", "source_type": "DATASET", "source_id": "d1",
                 "destination_type": "RUN", "destination_id": RUN},
            )  # fmt: skip
            conn.execute(
                t["input_tags"].insert(),
                {"input_uuid": "i1", "name": "mlflow.data.context", "value": "train"},
            )
        conn.execute(
            t["registered_models"].insert(),
            {"name": "legacy-model", "creation_time": T0, "last_updated_time": T0,
             "description": "from 2.x"},
        )  # fmt: skip
        conn.execute(
            t["model_versions"].insert(),
            [
                {"name": "legacy-model", "version": v, "creation_time": T0 + v,
                 "last_updated_time": T0 + v, "user_id": "alice",
                 "current_stage": "Staging" if v == 1 else "None",
                 "source": "/tmp/mlruns/7/r/artifacts/model", "run_id": RUN, "status": "READY"}
                for v in (1, 2)
            ],
        )  # fmt: skip
        if "registered_model_aliases" in t:
            conn.execute(
                t["registered_model_aliases"].insert(),
                {"name": "legacy-model", "alias": "prod", "version": 2},
            )


if __name__ == "__main__":
    fill(create(sys.argv[1], sys.argv[2]))
