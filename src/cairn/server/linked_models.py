"""Metric points that name a logged model write into that model, not only into their run.

`check` runs before anything is written: every model a call names must exist, so a call
naming an unknown model is 404 RESOURCE_DOES_NOT_EXIST and writes nothing, not even the
run's points. Who may write into a model of another experiment is the auth middleware's
concern, declared with the endpoint (`Reference.BATCH_METRIC_MODELS` and `METRIC_MODEL`,
cairn.server.references).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from cairn.entities import LoggedModelMetric
from cairn.server.context import Context


def check(ctx: Context, linked: Mapping[str, Sequence[LoggedModelMetric]]) -> None:
    """Raise ResourceDoesNotExistError unless every model in `linked` exists."""
    for model_id in linked:
        ctx.tracking.get_logged_model(model_id)
