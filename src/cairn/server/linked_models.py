"""Metric points that name a logged model write into that model, not only into their run.

A route is authorised on the run it names (EDIT on the run's experiment), so a point naming
a model of another experiment would let a user who may edit experiment B change the metrics
of a model in experiment A. `check` closes that: a linked model must exist, and when it lies
in another experiment than the run, the caller needs EDIT there too (`Context.may_edit`,
set under `--auth`; without auth every caller may write anything, as in MLflow).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from cairn.entities import LoggedModelMetric
from cairn.exceptions import PermissionDeniedError
from cairn.server.access import EDIT
from cairn.server.auth_store import AuthStore, permission_allows
from cairn.server.context import Context, authenticated_user


def check(ctx: Context, run_id: str, linked: Mapping[str, Sequence[LoggedModelMetric]]) -> None:
    """Raise unless every model in `linked` exists and the caller may write into it."""
    if not linked:
        return  # the common case: plain run metrics, nothing more to look up
    run_experiment = ctx.tracking.get_run(run_id).info.experiment_id
    for model_id in linked:
        model_experiment = ctx.tracking.get_logged_model(model_id).experiment_id
        if model_experiment != run_experiment and ctx.may_edit is not None:
            if not ctx.may_edit(model_experiment):
                raise PermissionDeniedError(
                    f"User {authenticated_user()!r} needs {EDIT} permission on experiment "
                    f"{model_experiment!r} to log metrics to model {model_id!r}."
                )


def edit_permission(store: AuthStore) -> Callable[[str], bool]:
    """`Context.may_edit` under `--auth`: whether the request's user may edit an experiment."""

    def may_edit(experiment_id: str) -> bool:
        username = authenticated_user()
        if username is None:
            return False
        user = store.get_user(username)
        return user.is_admin or permission_allows(store.permission(user.id, experiment_id), EDIT)

    return may_edit
