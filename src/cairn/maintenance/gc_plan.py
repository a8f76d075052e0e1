"""What a garbage collection removes and what it keeps, decided from one read of the
store before anything is deleted. A dry run reports this plan; a real run carries it out.

Collected: deleted runs (deleted at or before the cutoff), deleted experiments (last
updated at or before it) with all their runs and logged models, the logged models of the
runs collected, and deleted logged models. Kept, each with its reason:

- what a registered model version points to: its run_id, its model_id's logged model and
  that model's source run, a `runs:/` or `models:/<model_id>` source, or a source URI
  inside a run's or model's folder;
- a folder that something staying lies in, holds, or shares (a run's, a logged model's,
  an experiment's location, or another collected run's): its owner stays whole;
- a logged model that a run which stays lists as an output or logged metrics for;
- what lies behind a server's artifact proxy when no `artifacts_destination` is given:
  the owner stays whole, so nothing is left orphaned, and a later gc through the server
  collects it;
- an experiment with an active run, or anything of it kept;
- a run or experiment named in the request but deleted too recently.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field

from sqlalchemy.engine import Connection

from cairn.artifact_store.uri import scheme_of
from cairn.entities import LifecycleStage
from cairn.entities.gc import GcRequest, Kept
from cairn.exceptions import (
    InvalidParameterValueError,
    ResourceDoesNotExistError,
)
from cairn.maintenance import locations
from cairn.maintenance.locations import Key, LocationIndex, UnreachableError
from cairn.store import model_source
from cairn.store import validation as check
from cairn.store.sql import purge
from cairn.store.sql.purge import ExperimentRow, ModelRow, RunRow

DELETED = LifecycleStage.DELETED
DEFAULT_EXPERIMENT = 0


@dataclass
class ModelTarget:
    model_id: str
    experiment_id: int
    folder: str | None
    """The resolved URI of its folder to remove; None: it has no files of its own."""


@dataclass
class RunTarget:
    run_id: str
    experiment_id: int
    folder: str | None
    models: list[ModelTarget] = field(default_factory=list)
    """Its logged models, removed in the same batch."""


@dataclass
class ExperimentTarget:
    experiment_id: int
    folder: str | None


@dataclass
class Plan:
    runs: list[RunTarget]
    models: list[ModelTarget]
    """Logged models collected apart from any run (deleted ones, an experiment's)."""
    experiments: list[ExperimentTarget]
    kept: list[Kept]


def describe_age(ms: int) -> str:
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000)):
        if ms >= size and ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms / 1000:g}s"


def make_plan(
    conn: Connection,
    request: GcRequest,
    now_ms: int,
    destination: str | None = None,
    also_deleted: Collection[str] = (),
) -> Plan:
    """The plan for `request`; `also_deleted`: active runs to plan as if deleted now (a dry
    run's retention, or the run purge_run is about to delete)."""
    return _Planner(conn, request, now_ms, destination, frozenset(also_deleted)).plan()


class _Planner:
    def __init__(
        self,
        conn: Connection,
        request: GcRequest,
        now_ms: int,
        destination: str | None,
        also_deleted: frozenset[str],
    ) -> None:
        self.conn = conn
        self.request = request
        self.destination = destination
        self.also_deleted = also_deleted
        older = request.older_than_ms
        self.cutoff = now_ms - older if older else None
        self.narrowed = bool(request.experiment_ids or request.run_ids)
        self.staying: set[tuple[str, str]] = set()
        self.kept: list[Kept] = []
        self.notes: list[Kept] = []
        self.index = LocationIndex()
        self.runs: dict[str, RunRow] = {}
        self.models: dict[str, ModelRow] = {}
        self.model_reasons: dict[str, set[str]] = {}
        self.experiments: dict[int, ExperimentRow] = {}
        self.folders: dict[tuple[str, str], str | None] = {}
        self.folder_keys: dict[str, Key] = {}
        self.members: dict[int, list[tuple[str, str]]] = {}

    # -- the steps --------------------------------------------------------------------------

    def plan(self) -> Plan:
        all_experiments = {e.experiment_id: e for e in purge.all_experiments(self.conn)}
        named_experiments = self._named_experiments(all_experiments)
        named_runs = self._named_runs()
        self._choose_experiments(all_experiments.values(), named_experiments)
        self._choose_runs(named_experiments, named_runs)
        all_models = purge.all_logged_models(self.conn)
        self._choose_models(all_models, named_experiments)
        versions = purge.registered_versions(self.conn)
        self._protect_registered(versions, {m.model_id: m for m in all_models})
        self._resolve_folders()
        self._index_survivors(all_experiments.values(), all_models, versions)
        self._keep_shared_folders()
        self._settle()
        return self._result()

    def _named_experiments(self, known: dict[int, ExperimentRow]) -> set[int]:
        numbers = set()
        for experiment_id in self.request.experiment_ids:
            number = int(check.experiment_id(experiment_id))
            if number not in known:
                raise ResourceDoesNotExistError(f"No experiment with id={experiment_id}.")
            numbers.add(number)
        return numbers

    def _named_runs(self) -> list[RunRow]:
        wanted = [check.run_id(r) for r in self.request.run_ids]
        found = {r.run_id: r for r in purge.runs_by_id(self.conn, wanted)}
        for run_id in wanted:
            row = found.get(run_id)
            if row is None:
                raise ResourceDoesNotExistError(f"Run '{run_id}' not found.")
            if row.lifecycle_stage != DELETED and run_id not in self.also_deleted:
                raise InvalidParameterValueError(
                    f"Run {run_id} is {row.lifecycle_stage}: it must be deleted first "
                    "(delete_run) before gc removes it for good."
                )
        return list(found.values())

    def _young(self, when: int | None) -> bool:
        return self.cutoff is not None and (when is None or when > self.cutoff)

    def _too_young(self, kind: str, ident: str) -> None:
        """A run or experiment the request names, but deleted too recently: said, since
        it was asked for."""
        older = describe_age(self.request.older_than_ms or 0)
        self.notes.append(Kept(kind, ident, f"deleted less than {older} ago (--older-than)"))

    def _choose_experiments(self, rows: Iterable[ExperimentRow], named: set[int]) -> None:
        for e in rows:
            if e.lifecycle_stage != DELETED or e.experiment_id == DEFAULT_EXPERIMENT:
                continue
            if self.narrowed and e.experiment_id not in named:
                continue
            if self._young(e.last_update_time):
                if e.experiment_id in named:
                    self._too_young("experiment", str(e.experiment_id))
                continue
            self.experiments[e.experiment_id] = e

    def _choose_runs(self, named_experiments: set[int], named_runs: list[RunRow]) -> None:
        scope = sorted(named_experiments) if self.narrowed else None
        for row in purge.deleted_runs(self.conn, self.cutoff, scope):
            self.runs[row.run_id] = row
        retired = purge.runs_by_id(self.conn, sorted(self.also_deleted))
        for row in retired:
            in_scope = not self.narrowed or row.experiment_id in named_experiments
            if in_scope and self.cutoff is None and row.lifecycle_stage != DELETED:
                self.runs[row.run_id] = row
        for row in named_runs:
            retiring = row.lifecycle_stage != DELETED
            if self._young(None if retiring else row.deleted_time):
                self._too_young("run", row.run_id)
            else:
                self.runs[row.run_id] = row
        for row in purge.runs_of_experiments(self.conn, sorted(self.experiments)):
            if row.lifecycle_stage == DELETED or row.run_id in self.also_deleted:
                self.runs[row.run_id] = row
            else:
                self._keep("experiment", str(row.experiment_id), f"its run {row.run_id} is active")

    def _choose_models(self, rows: Iterable[ModelRow], named_experiments: set[int]) -> None:
        for m in rows:
            reasons = set()
            if m.experiment_id in self.experiments:
                reasons.add("experiment")
            if m.source_run_id in self.runs:
                reasons.add("run")
            in_scope = not self.narrowed or m.experiment_id in named_experiments
            if m.lifecycle_stage == DELETED and in_scope and not self._young(m.last_updated):
                reasons.add("deleted")
            if reasons:
                self.models[m.model_id] = m
                self.model_reasons[m.model_id] = reasons

    def _protect_registered(
        self, versions: Sequence[purge.VersionRow], models: dict[str, ModelRow]
    ) -> None:
        for v in versions:
            label = f"registered model version '{v.name}' v{v.version}"
            run_ids = [v.run_id] if v.run_id else []
            model_ids = [v.model_id] if v.model_id else []
            try:
                ref = model_source.reference(v.source)
            except InvalidParameterValueError:
                ref = None  # a malformed runs:/ or models:/ source names nothing
            if ref is not None and ref.kind == "run":
                run_ids.append(ref.ids[0])
            elif ref is not None and ref.kind == "model":
                model_ids.append(ref.ids[0])
            for run_id in run_ids:
                self._keep("run", run_id, f"{label} points to it")
            for model_id in model_ids:
                self._keep("logged_model", model_id, f"{label} points to it")
                source_run = models[model_id].source_run_id if model_id in models else None
                if source_run:
                    self._keep("run", source_run, f"its logged model {model_id} is {label}'s")

    def _resolve_folders(self) -> None:
        for run in self.runs.values():
            self._folder("run", run.run_id, run.artifact_uri)
        for model in self.models.values():
            self._folder("logged_model", model.model_id, model.artifact_location)
        for e in self.experiments.values():
            self._folder("experiment", str(e.experiment_id), e.artifact_location)

    def _folder(self, kind: str, ident: str, location: str) -> None:
        if not location:
            self.folders[kind, ident] = None
            return
        try:
            resolved = locations.resolve(location, self.destination)
        except UnreachableError as why:
            self._keep("artifacts", ident, str(why), kind)
            return
        folder = locations.own_folder(resolved, ident, id_anywhere=kind != "experiment")
        if folder is None:
            self.notes.append(
                Kept(
                    "artifacts",
                    ident,
                    f"its artifact location {location} was chosen by hand and may hold other "
                    "files: it is left in place",
                )
            )
        self.folders[kind, ident] = folder

    def _key(self, location: str) -> Key | None:
        """The key of where a location's files are; an unresolved proxy location keys as
        it is (it still compares with others like it); a relative path names nothing."""
        try:
            return locations.key_of(locations.resolve(location, self.destination))
        except UnreachableError:
            if scheme_of(location) != locations.PROXY_SCHEME:
                return None
            return locations.key_of(location)
        except ValueError:  # not a URI at all
            return None

    def _folder_key(self, folder: str) -> Key:
        key = self.folder_keys.get(folder)
        if key is None:
            key = self.folder_keys[folder] = locations.key_of(folder)
        return key

    def _index_survivors(
        self,
        experiments: Iterable[ExperimentRow],
        models: Iterable[ModelRow],
        versions: Sequence[purge.VersionRow],
    ) -> None:
        for run_id, location in purge.run_locations(self.conn):
            if run_id not in self.runs:
                self._add(location, f"run {run_id}")
        for m in models:
            if m.model_id not in self.models:
                self._add(m.artifact_location, f"logged model {m.model_id}")
        for e in experiments:
            if e.experiment_id not in self.experiments:
                self._add(e.artifact_location, f"experiment {e.experiment_id}", holds=True)
        for v in versions:
            if not v.source.startswith(("runs:", "models:")):
                label = f"the source of registered model version '{v.name}' v{v.version}"
                self._add(v.source, label)

    def _add(self, location: str, owner: str, holds: bool = False) -> None:
        key = self._key(location) if location else None
        if key is not None:
            self.index.add(key, owner, holds)

    def _keep_shared_folders(self) -> None:
        """Two collected runs or models whose folders overlap both stay: removing one would
        remove files of the other, and the files would be counted twice."""
        keyed: list[tuple[Key, str, str]] = []
        for (kind, ident), folder in self.folders.items():
            if folder is not None and kind != "experiment":
                keyed.append((self._folder_key(folder), kind, ident))
        keyed.sort()
        holders: list[tuple[Key, str, str]] = []
        for key, kind, ident in keyed:
            while holders and key[: len(holders[-1][0])] != holders[-1][0]:
                holders.pop()
            if holders:
                _, other_kind, other = holders[-1]
                shared = "its artifact folder overlaps that of {} {}"
                self._keep(kind, ident, shared.format(_label(other_kind), other))
                self._keep(other_kind, other, shared.format(_label(kind), ident))
            holders.append((key, kind, ident))

    def _settle(self) -> None:
        """Keep what conflicts with what stays, until nothing more changes: each thing
        kept stays, so its folder joins the index and may keep others."""
        users = purge.model_users(self.conn, sorted(self.models))
        for run_id, run in self.runs.items():
            self.members.setdefault(run.experiment_id, []).append(("run", run_id))
        for model_id, model in self.models.items():
            self.members.setdefault(model.experiment_id, []).append(("logged_model", model_id))
        changed = True
        while changed:
            changed = False
            for run_id in self.runs:
                if self._kept("run", run_id):
                    continue
                if self._conflicts("run", run_id):
                    changed = True
            collected = {r for r in self.runs if not self._kept("run", r)}
            for model_id, model in self.models.items():
                if self._kept("logged_model", model_id):
                    continue
                reasons = self.model_reasons[model_id]
                if not self._still_wanted(model, reasons, collected):
                    self._keep("logged_model", model_id, None)
                    changed = True
                    continue
                staying = sorted((users.get(model_id) or set()) - collected)
                if staying and "deleted" not in reasons:
                    self._keep("logged_model", model_id, f"run {staying[0]}, which stays, uses it")
                    changed = True
                elif self._conflicts("logged_model", model_id):
                    changed = True
            for number, e in self.experiments.items():
                if not self._kept("experiment", str(number)) and self._experiment_blocked(e):
                    changed = True

    def _still_wanted(self, model: ModelRow, reasons: set[str], collected: set[str]) -> bool:
        """A model goes when deleted itself, or with its run or experiment while those go."""
        if "deleted" in reasons:
            return True
        if "run" in reasons and model.source_run_id in collected:
            return True
        return "experiment" in reasons and not self._kept("experiment", str(model.experiment_id))

    def _experiment_blocked(self, e: ExperimentRow) -> bool:
        number = e.experiment_id
        for kind, ident in self.members.get(number, ()):
            if self._kept(kind, ident):
                self._keep("experiment", str(number), f"its {_label(kind)} {ident} is kept")
                return True
        return self._conflicts("experiment", str(number))

    def _conflicts(self, kind: str, ident: str) -> bool:
        folder = self.folders.get((kind, ident))
        if folder is None:
            return False
        owner = self.index.conflict(self._folder_key(folder))
        if owner is None:
            return False
        self._keep(kind, ident, f"its artifact folder {folder} overlaps the artifacts of {owner}")
        return True

    # -- keeping -------------------------------------------------------------------------------

    def _keep(self, kind: str, ident: str, reason: str | None, owner_kind: str = "") -> None:
        """Record that `ident` stays (the first reason is the one reported; None: nothing
        to report, it is simply no longer collected); its location joins the index of what
        stays. `owner_kind`: what an "artifacts" entry keeps ("run", "experiment", ...)."""
        owner = owner_kind or kind
        if (owner, ident) in self.staying:
            return
        self.staying.add((owner, ident))
        if reason is not None:
            self.kept.append(Kept(kind, ident, reason))
        if owner == "run" and ident in self.runs:
            self._add(self.runs[ident].artifact_uri, f"run {ident}")
        elif owner == "logged_model" and ident in self.models:
            self._add(self.models[ident].artifact_location, f"logged model {ident}")
        elif owner == "experiment" and ident.isdigit() and int(ident) in self.experiments:
            location = self.experiments[int(ident)].artifact_location
            self._add(location, f"experiment {ident}", holds=True)

    def _kept(self, kind: str, ident: str) -> bool:
        return (kind, ident) in self.staying

    def _result(self) -> Plan:
        def model_target(m: ModelRow) -> ModelTarget:
            return ModelTarget(
                m.model_id, m.experiment_id, self.folders[("logged_model", m.model_id)]
            )

        models = [m for m in self.models.values() if not self._kept("logged_model", m.model_id)]
        runs: dict[str, RunTarget] = {}
        for run_id, run in self.runs.items():
            if not self._kept("run", run_id):
                runs[run_id] = RunTarget(run_id, run.experiment_id, self.folders[("run", run_id)])
        apart: list[ModelTarget] = []
        for m in models:
            target = runs.get(m.source_run_id or "")
            (target.models if target else apart).append(model_target(m))
        experiments = [
            ExperimentTarget(number, self.folders[("experiment", str(number))])
            for number in self.experiments
            if not self._kept("experiment", str(number))
        ]
        relevant = self._relevant_notes(runs, models, experiments)
        kept = [k for k in self.kept if self._reported(k)]
        return Plan(list(runs.values()), apart, experiments, kept + relevant)

    def _reported(self, kept: Kept) -> bool:
        """Protections of things that were never to be collected are not news."""
        if kept.kind == "run":
            return kept.id in self.runs
        if kept.kind == "logged_model":
            return kept.id in self.models
        return True

    def _relevant_notes(
        self,
        runs: dict[str, RunTarget],
        models: list[ModelRow],
        experiments: list[ExperimentTarget],
    ) -> list[Kept]:
        collected = set(runs) | {m.model_id for m in models}
        collected |= {str(e.experiment_id) for e in experiments}
        return [n for n in self.notes if n.kind != "artifacts" or n.id in collected]


def _label(kind: str) -> str:
    return "logged model" if kind == "logged_model" else kind
