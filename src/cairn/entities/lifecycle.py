"""Lifecycle stages, run statuses and search view types, with MLflow's names and values."""

from __future__ import annotations

import enum


class LifecycleStage:
    """Whether an experiment or run is live or soft-deleted (restorable until purged)."""

    ACTIVE = "active"
    DELETED = "deleted"


class RunStatus(str, enum.Enum):
    """A run's status. Values are MLflow's names; the integers are MLflow's proto numbers."""

    RUNNING = "RUNNING"
    SCHEDULED = "SCHEDULED"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"

    @property
    def number(self) -> int:
        return _STATUS_NUMBERS[self]

    @classmethod
    def parse(cls, value: str | int | RunStatus) -> RunStatus:
        """Accept a status name (any case), a proto number, or a RunStatus."""
        from cairn.exceptions import InvalidParameterValueError

        if isinstance(value, RunStatus):
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            for status, number in _STATUS_NUMBERS.items():
                if number == value:
                    return status
        elif isinstance(value, str):
            try:
                return cls(value.upper())
            except ValueError:
                pass
        names = ", ".join(s.value for s in cls)
        raise InvalidParameterValueError(f"Invalid run status {value!r}: expected one of {names}.")

    @property
    def is_terminated(self) -> bool:
        return self in (RunStatus.FINISHED, RunStatus.FAILED, RunStatus.KILLED)


_STATUS_NUMBERS = {
    RunStatus.RUNNING: 1,
    RunStatus.SCHEDULED: 2,
    RunStatus.FINISHED: 3,
    RunStatus.FAILED: 4,
    RunStatus.KILLED: 5,
}


class ViewType(enum.IntEnum):
    """Which lifecycle stages a search returns (MLflow's proto values)."""

    ACTIVE_ONLY = 1
    DELETED_ONLY = 2
    ALL = 3

    @property
    def stages(self) -> tuple[str, ...]:
        if self is ViewType.ACTIVE_ONLY:
            return (LifecycleStage.ACTIVE,)
        if self is ViewType.DELETED_ONLY:
            return (LifecycleStage.DELETED,)
        return (LifecycleStage.ACTIVE, LifecycleStage.DELETED)
