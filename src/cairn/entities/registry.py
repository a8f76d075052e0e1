"""The model registry's values: registered models, their versions, and the history of every
stage transition and alias move (Cairn's addition to MLflow's registry)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from cairn.entities.dataset import DatasetInput
from cairn.entities.logged_model import LoggedModel
from cairn.entities.run import Run


class ModelVersionStage(str, enum.Enum):
    """MLflow's four stages; input is case-insensitive, output canonical."""

    NONE = "None"
    STAGING = "Staging"
    PRODUCTION = "Production"
    ARCHIVED = "Archived"

    @classmethod
    def parse(cls, value: str) -> ModelVersionStage:
        """`ModelVersionStage.parse("production")` is PRODUCTION; anything else raises
        ValueError (the stores turn it into INVALID_PARAMETER_VALUE)."""
        if isinstance(value, cls):
            return value
        for stage in cls:
            if str(value).lower() == stage.value.lower():
                return stage
        raise ValueError(value)


class ModelVersionStatus(str, enum.Enum):
    PENDING_REGISTRATION = "PENDING_REGISTRATION"
    FAILED_REGISTRATION = "FAILED_REGISTRATION"
    READY = "READY"


@dataclass(frozen=True, slots=True)
class ModelVersion:
    """One version of a registered model. `version` is a string, as on MLflow's wire."""

    name: str
    version: str
    creation_timestamp: int
    last_updated_timestamp: int
    current_stage: str = ModelVersionStage.NONE.value
    description: str = ""
    source: str = ""
    run_id: str | None = None
    status: str = ModelVersionStatus.READY.value
    status_message: str | None = None
    user_id: str | None = None
    run_link: str | None = None
    model_id: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RegisteredModel:
    """`latest_versions` holds the newest version in each stage (MLflow's shape); `aliases`
    maps each alias to its version."""

    name: str
    creation_timestamp: int
    last_updated_timestamp: int
    description: str = ""
    user_id: str | None = None
    latest_versions: tuple[ModelVersion, ...] = ()
    tags: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)


class ModelVersionEventKind(str, enum.Enum):
    CREATED = "created"
    STAGE = "stage"  # from/to are stages
    ALIAS_SET = "alias_set"  # `alias` now points at this version (from: its previous version)
    ALIAS_DELETED = "alias_deleted"
    DELETED = "deleted"


@dataclass(frozen=True, slots=True)
class ModelVersionEvent:
    """One recorded move of a version: who did what, when, from which value to which."""

    name: str
    version: str
    kind: ModelVersionEventKind
    timestamp: int
    user_id: str | None = None
    from_value: str | None = None
    to_value: str | None = None
    alias: str | None = None


@dataclass(frozen=True, slots=True)
class ModelVersionLineage:
    """Where a registered version came from: its logged model, the run that trained it, the
    datasets that run read, and the code (git commit and source file) behind it."""

    model_version: ModelVersion
    logged_model: LoggedModel | None = None
    run: Run | None = None
    datasets: tuple[DatasetInput, ...] = ()
    git_commit: str | None = None
    source_name: str | None = None
