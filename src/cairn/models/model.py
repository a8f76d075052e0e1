"""The `MLmodel` file: what a model directory holds and how to load it, in MLflow's keys.

A directory with an `MLmodel` file is a model, whichever tool wrote it. Cairn writes the keys
MLflow 3 writes (`artifact_path`, `flavors`, `model_uuid`, `model_id`, `run_id`,
`utc_time_created`, `signature`, `saved_input_example_info`, `model_size_bytes`, `metadata`)
and keeps any other key it reads (`mlflow_version`, `prompts`, …) so rewriting a file written
by MLflow loses nothing. As in MLflow, a null `run_id` or `artifact_path` is left out.
"""

from __future__ import annotations

import datetime
import os
import uuid
from dataclasses import dataclass, field
from typing import Any

import yaml

from cairn.entities.logged_model import MLMODEL_FILE_NAME
from cairn.exceptions import InvalidParameterValueError, ResourceDoesNotExistError
from cairn.models.signature import ModelSignature

_TIME_FORMAT = "%Y-%m-%d %H:%M:%S.%f"  # naive UTC, as MLflow writes it
_KNOWN_KEYS = (
    "artifact_path",
    "run_id",
    "model_id",
    "flavors",
    "model_uuid",
    "utc_time_created",
    "signature",
    "saved_input_example_info",
    "model_size_bytes",
    "metadata",
)
# MLflow writes these two beside a signature; they describe how it was made, not the model.
_SIGNATURE_ORIGIN_KEYS = ("is_signature_from_type_hint", "type_hint_from_example")


def _utc_now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime(_TIME_FORMAT)


@dataclass
class Model:
    """The parsed MLmodel file. Flavors are plain dicts: each flavor owns its section."""

    artifact_path: str | None = None
    run_id: str | None = None
    model_id: str | None = None
    flavors: dict[str, dict[str, Any]] = field(default_factory=dict)
    model_uuid: str = field(default_factory=lambda: uuid.uuid4().hex)
    utc_time_created: str = field(default_factory=_utc_now)
    signature: ModelSignature | None = None
    saved_input_example_info: dict[str, Any] | None = None
    model_size_bytes: int | None = None
    metadata: dict[str, Any] | None = None
    other: dict[str, Any] = field(default_factory=dict)  # keys Cairn keeps but does not read

    def add_flavor(self, name: str, **params: Any) -> Model:
        self.flavors[name] = dict(params)
        return self

    def flavor(self, name: str) -> dict[str, Any]:
        """One flavor's section; a clear error when the model was saved without it."""
        section = self.flavors.get(name)
        if section is None:
            raise InvalidParameterValueError(
                f"The model has no {name!r} flavor; it has {sorted(self.flavors)}."
            )
        return section

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.artifact_path is not None:
            out["artifact_path"] = self.artifact_path
        out["flavors"] = self.flavors
        out["model_id"] = self.model_id
        out["model_uuid"] = self.model_uuid
        if self.run_id is not None:
            out["run_id"] = self.run_id
        out["utc_time_created"] = self.utc_time_created
        if self.signature is not None:
            out["signature"] = self.signature.to_dict()
            for key in _SIGNATURE_ORIGIN_KEYS:
                out[key] = self.other.get(key, False)
        for key in ("saved_input_example_info", "model_size_bytes", "metadata"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        out.update({k: v for k, v in self.other.items() if k not in out})
        return out

    def to_yaml(self) -> str:
        text: str = yaml.safe_dump(self.to_dict(), default_flow_style=False)
        return text

    def save(self, path: str) -> None:
        """Write to `path`: the MLmodel file, or a directory to write it into."""
        if os.path.isdir(path):
            path = os.path.join(path, MLMODEL_FILE_NAME)
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(self.to_yaml())

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Model:
        signature = data.get("signature")
        model = cls(
            artifact_path=data.get("artifact_path"),
            run_id=data.get("run_id"),
            model_id=data.get("model_id"),
            flavors=dict(data.get("flavors") or {}),
            model_uuid=data.get("model_uuid") or uuid.uuid4().hex,
            utc_time_created=str(data.get("utc_time_created") or _utc_now()),
            signature=ModelSignature.from_dict(signature) if signature else None,
            saved_input_example_info=data.get("saved_input_example_info"),
            model_size_bytes=data.get("model_size_bytes"),
            metadata=data.get("metadata"),
        )
        model.other = {k: v for k, v in data.items() if k not in _KNOWN_KEYS}
        return model

    @classmethod
    def load(cls, path: str) -> Model:
        """Read an MLmodel file, or the one inside a model directory. (Loaders read it
        with `containment.load_contained`, which also keeps its paths inside the model.)"""
        if os.path.isdir(path):
            path = os.path.join(path, MLMODEL_FILE_NAME)
        if not os.path.isfile(path):
            raise ResourceDoesNotExistError(f"No MLmodel file at {path!r}: not a model.")
        with open(path, encoding="utf-8") as handle:
            data = yaml.safe_load(handle)
        if not isinstance(data, dict):
            raise InvalidParameterValueError(f"{path!r} is not an MLmodel file.")
        return cls.from_dict(data)


@dataclass(frozen=True)
class ModelInfo:
    """What `log_model` returns: where the model went and what it is."""

    model_uri: str
    model_id: str | None
    run_id: str | None
    artifact_path: str | None
    flavors: dict[str, dict[str, Any]]
    signature: ModelSignature | None
    model_uuid: str
    utc_time_created: str
    metadata: dict[str, Any] | None = None
    saved_input_example_info: dict[str, Any] | None = None
    registered_model_version: str | None = None

    @classmethod
    def of(cls, model: Model, model_uri: str) -> ModelInfo:
        return cls(
            model_uri=model_uri,
            model_id=model.model_id,
            run_id=model.run_id,
            artifact_path=model.artifact_path,
            flavors=model.flavors,
            signature=model.signature,
            model_uuid=model.model_uuid,
            utc_time_created=model.utc_time_created,
            metadata=model.metadata,
            saved_input_example_info=model.saved_input_example_info,
        )


def directory_size(path: str) -> int:
    """Total bytes of the files under `path` (MLflow's `model_size_bytes`)."""
    total = 0
    for folder, _dirs, files in os.walk(path):
        total += sum(os.path.getsize(os.path.join(folder, name)) for name in files)
    return total
