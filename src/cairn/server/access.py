"""What an endpoint needs under `cairn server --auth`, declared with the endpoint itself
(cairn.server.routes.Endpoint), so no endpoint exists without saying who may call it.

An `Access` is a permission and where the experiment or registered model it applies to
comes from: `Access(READ, Source.RUN)` needs READ on the experiment of the call's run.
`Access(ANY_USER)` lets any authenticated user call; `Access(ADMIN)` only administrators
(what every request that matches no endpoint gets). An `Effect` names what the auth
middleware (cairn.server.auth) does besides the check: grant the creator, or keep only
what the caller may read in the answer.

A call may name more than its one object: a metric's logged model, the models a run
outputs, a new model's source run. Each such id is a `Reference` the endpoint declares
beside its source (`Access(EDIT, Source.RUN, refers=(Refers(EDIT, Reference.METRIC_MODEL),))`),
so the middleware checks every id a call names, not only the first (cairn.server.references).
The rule: writing into what an id names needs EDIT there; only naming it needs READ.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

READ, EDIT, MANAGE = "READ", "EDIT", "MANAGE"  # a grant on the experiment or model
ANY_USER = "ANY_USER"  # any authenticated user, nothing to look up
ADMIN = "ADMIN"  # administrators only
_ON_SOMETHING = (READ, EDIT, MANAGE)


class Source(Enum):
    """Where the call's experiment (or registered model) comes from."""

    EXPERIMENT = "experiment_id"
    RUN = "run"  # the experiment of the run named by `run_id`
    EXPERIMENT_NAME = "experiment_name"
    EXPERIMENT_IDS = "experiment_ids"  # each listed experiment
    LOGGED_MODEL = "model_id"  # the experiment of the logged model named in the path
    RUN_IDS = "run_ids"  # each listed run's experiment (repeated or comma-separated)
    COUNTED_EXPERIMENTS = "counted_experiment_ids"  # each of `experiment_ids`, comma-separated
    REGISTERED_MODEL = "registered_model"  # the registered model named by `name`
    NEW_VERSION = "new_model_version"  # `name`, and READ on what the version's source is
    TRACE = "trace_id"  # the experiment of the trace named by `trace_id` (v2: `request_id`)
    TRACE_IDS = "trace_ids"  # each listed trace's experiment (absent traces: none)
    NEW_TRACE = "new_trace"  # a StartTrace's experiment, and the trace's if it exists already
    TRACE_LOCATIONS = "trace_locations"  # each experiment a trace search names
    RUN_AND_TRACES = "run_and_traces"  # the experiment of `run_id`, and each listed trace's
    EXPERIMENT_HEADER = "x-mlflow-experiment-id"  # that header's experiment (OTLP; no body read)


class Reference(Enum):
    """An id a call names besides its source, and where it sits in the call."""

    BATCH_METRIC_MODELS = "metrics[].model_id"  # the models log-batch's metrics write into
    METRIC_MODEL = "model_id"  # the model log-metric's point writes into
    OUTPUT_MODELS = "models[].model_id"  # runs/outputs: the models a run produced
    SOURCE_RUN = "source_run_id"  # logged-models/create: the run the model came from
    PARENT_RUN = "tags[mlflow.parentRunId]"  # a run's parent, in `tags` or set-tag's key/value
    TRACE_RUN = "metadata[mlflow.sourceRun]"  # a trace's run, in its metadata (as link-to-run)


@dataclass(frozen=True)
class Refers:
    """`permission` (READ or EDIT) is needed on the experiment of every id `reference` finds."""

    permission: str
    reference: Reference

    def __post_init__(self) -> None:
        if self.permission not in _ON_SOMETHING:
            raise ValueError(f"A reference needs READ, EDIT or MANAGE, not {self.permission!r}.")


class Effect(Enum):
    """What the middleware does with a successful answer."""

    CREATOR_MANAGES_EXPERIMENT = "creator_manages_experiment"
    READABLE_EXPERIMENTS = "readable_experiments"  # answers only readable experiments
    CREATOR_MANAGES_MODEL = "creator_manages_model"
    READABLE_MODELS = "registered_models"  # answers only readable registered models
    READABLE_VERSIONS = "model_versions"  # answers only versions of readable models
    OWN_MODEL_PERMISSION = "own_model_permission"  # answers the caller's own grant


@dataclass(frozen=True)
class Access:
    permission: str  # READ, EDIT, MANAGE, ANY_USER or ADMIN
    source: Source | None = None  # needed by READ, EDIT and MANAGE, and only by them
    effect: Effect | None = None
    refers: tuple[Refers, ...] = ()  # further ids the call names, each checked too

    def __post_init__(self) -> None:
        # Checked when the endpoint tables are built, so a wrong declaration fails at import.
        if self.permission in _ON_SOMETHING:
            if self.source is None:
                raise ValueError(f"{self.permission} access must say where its object is.")
        elif self.permission in (ANY_USER, ADMIN):
            if self.source is not None:
                raise ValueError(f"{self.permission} access checks no object.")
            if self.permission == ADMIN and self.refers:
                raise ValueError("Administrators' access checks no references.")
        else:
            raise ValueError(f"Unknown permission {self.permission!r}.")
