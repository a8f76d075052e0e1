"""One adapter over Cairn and MLflow, so every workload is written once and runs against both.

Cairn mirrors MLflow's API; the only differences the workloads need are how a client is built,
where the entity classes live and what "wait until stored" means for fluent metrics.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType
from typing import Any

TOOLS = ("cairn", "mlflow")


@dataclass(frozen=True)
class Tool:
    """A tracking library bound to one tracking URI."""

    name: str
    fluent: ModuleType
    entities: ModuleType
    uri: str

    def client(self) -> Any:
        """A low-level client (`cairn.Client` / `mlflow.MlflowClient`) on this tool's URI."""
        cls = self.fluent.Client if self.name == "cairn" else self.fluent.MlflowClient
        return cls(tracking_uri=self.uri)

    def flush(self) -> None:
        """Block until every fluent metric is durable.

        Cairn buffers fluent metrics, so `cairn.flush()` is part of the measured time. MLflow's
        default (synchronous) fluent calls have already stored their data when they return.
        """
        if self.name == "cairn":
            self.fluent.flush()


def load(name: str, uri: str) -> Tool:
    """Import the tool (not timed by any workload) and point its fluent API at `uri`."""
    if name not in TOOLS:
        raise ValueError(f"unknown tool {name!r}; expected one of {TOOLS}")
    fluent = importlib.import_module(name)
    entities = importlib.import_module(f"{name}.entities")
    fluent.set_tracking_uri(uri)
    return Tool(name=name, fluent=fluent, entities=entities, uri=uri)
