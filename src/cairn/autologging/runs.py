"""The run an autologged call or callback logs into.

The active run when there is one (not under `exclusive`, which keeps autologging out of runs
the user started); else a run started for the training, tagged `mlflow.autologging`, that
ends with it: FAILED when training raised, else FINISHED.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

from cairn.autologging.settings import AutologSettings
from cairn.entities import RunStatus
from cairn.tracking import fluent

AUTOLOGGING_TAG = "mlflow.autologging"


def start(
    integration: str, settings: AutologSettings, run_name: str | None = None
) -> tuple[str | None, bool]:
    """(run id or None, whether this started it): the run to log into."""
    active = fluent.active_run()
    if active is not None:
        return (None if settings.exclusive else active.info.run_id), False
    tags = {AUTOLOGGING_TAG: integration, **settings.extra_tags}
    run = fluent.start_run(run_name=run_name, tags=tags)
    return run.info.run_id, True


def end(run_id: str | None, started: bool, failed: bool) -> None:
    """End a run that `start` started, if it is still the active one."""
    if not started or run_id is None:
        return
    active = fluent.active_run()
    if active is not None and active.info.run_id == run_id:
        fluent.end_run(RunStatus.FAILED.value if failed else RunStatus.FINISHED.value)


@contextlib.contextmanager
def autolog_run(
    integration: str,
    settings: AutologSettings,
    run_name: str | None = None,
    failed: Callable[[], bool] = lambda: True,
) -> Iterator[str | None]:
    """`start` … `end` around a block; an error in the block ends the run FAILED when
    `failed()` says training itself failed, FINISHED when only the logging did."""
    run_id, started = start(integration, settings, run_name)
    try:
        yield run_id
    except BaseException:
        end(run_id, started, failed=failed())
        raise
    end(run_id, started, failed=False)
