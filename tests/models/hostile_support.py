"""A corpus of hostile model directories, and the legitimate ones that must still load.

Each hostile case builds a real model with Cairn, then turns its MLmodel (or its folder)
against the loader: a path that leaves the folder (absolute, `../`, `/etc/passwd`, a
symbolic link), a `code` folder elsewhere, or shipped code while pickles are refused. What
lies outside is booby-trapped: a pickle that creates a marker when unpickled, a module
that creates it when imported. A case counts as refused only if the loader raised the
expected error, no marker exists, and sys.path is unchanged.

Plain Python, no pytest: `tests/models/test_hostile_models.py` runs it case by case, and a
benchmark can count it with

    sys.path.insert(0, "tests/models")
    from hostile_support import run_corpus
    outcomes = run_corpus(Path(scratch_folder))  # one Outcome per case
    tried, refused = len(hostile), sum(o.refused for o in outcomes if o.hostile)

(run from the repository root, with scikit-learn, skops, onnx and onnxruntime installed).
"""

from __future__ import annotations

import contextlib
import importlib
import os
import pickle
import re
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

import cairn
import cairn.onnx
import cairn.pyfunc
import cairn.sklearn
from cairn.exceptions import InvalidParameterValueError, PermissionDeniedError

OUTSIDE_MESSAGE = r"leaves the model folder|is not a path|names the model folder itself"
CODE_MESSAGE = r"CAIRN_ALLOW_PICKLE is false"


@dataclass(frozen=True)
class Sandbox:
    """One case's folder: `models/` for the model, `outside/` for the traps beside it."""

    root: Path
    token: str

    @classmethod
    def create(cls, folder: Path) -> Sandbox:
        box = cls(folder, uuid.uuid4().hex[:12])
        (folder / "models").mkdir(parents=True)
        outside = folder / "outside"
        (outside / "code").mkdir(parents=True)
        (outside / "secret.txt").write_text("outside the model\n")
        (outside / "evil.pkl").write_bytes(box.marker_pickle())
        (outside / "code" / f"{box.sentinel}.py").write_text(box.marker_source())
        (outside / "model.onnx").write_bytes(_onnx_graph().SerializeToString())
        return box

    @property
    def marker(self) -> Path:
        """Exists only if something outside was unpickled or imported."""
        return self.root / "MARKER"

    @property
    def outside(self) -> Path:
        return self.root / "outside"

    @property
    def sentinel(self) -> str:
        """A module name found only in `outside/code`, unique to this sandbox."""
        return f"hostile_sentinel_{self.token}"

    def model(self, name: str) -> Path:
        return self.root / "models" / name

    def marker_pickle(self) -> bytes:
        return pickle.dumps(_MakesDirectory(str(self.marker)))

    def importing_pickle(self) -> bytes:
        return pickle.dumps(_Imports(self.sentinel))

    def marker_source(self) -> str:
        return f"import os\n\nos.mkdir({str(self.marker)!r})\n"


class _MakesDirectory:
    """Pickles as `os.mkdir(path)`: unpickling it leaves a trace."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.mkdir, (self.path,))


class _Imports:
    """Pickles as `importlib.import_module(name)`: unpickling it imports the module."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __reduce__(self) -> tuple[Any, ...]:
        return (importlib.import_module, (self.name,))


# -- real models -------------------------------------------------------------------------


def _frame() -> pd.DataFrame:
    return pd.DataFrame({"a": [0.1, 0.5, 0.9, 1.3, 2.0, 2.2], "b": [1.0, 0.2, 0.3, 1.1, 0.4, 0.9]})


def _classifier() -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression().fit(_frame(), np.array([0, 0, 0, 1, 1, 1]))


def _onnx_graph() -> Any:
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "identity",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 2])],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


class ReadsArtifacts(cairn.pyfunc.PythonModel):
    """A custom model that reads its artifacts at load time, as most do."""

    def load_context(self, context: Any) -> None:
        self.texts = {
            name: Path(path).read_text() if Path(path).is_file() else sorted(os.listdir(path))
            for name, path in context.artifacts.items()
        }

    def predict(self, context: Any, model_input: Any, params: Any = None) -> Any:
        return model_input


def _shipped_code(box: Sandbox) -> Path:
    """A module to ship with `code_paths`; importing it leaves the marker."""
    folder = box.root / "shipped"
    folder.mkdir(exist_ok=True)
    module = folder / f"shipped_{box.token}.py"
    module.write_text(box.marker_source())
    return module


def sklearn_model(box: Sandbox, fmt: str = "cloudpickle", code: bool = False) -> Path:
    target = box.model(f"sklearn-{fmt}")
    code_paths = [str(_shipped_code(box))] if code else None
    cairn.sklearn.save_model(_classifier(), target, serialization_format=fmt, code_paths=code_paths)
    return target


def onnx_model(box: Sandbox, code: bool = False) -> Path:
    target = box.model("onnx")
    code_paths = [str(_shipped_code(box))] if code else None
    cairn.onnx.save_model(_onnx_graph(), target, code_paths=code_paths)
    return target


def custom_model(box: Sandbox) -> Path:
    """A custom model with a file artifact and a folder artifact holding a subfolder."""
    target = box.model("custom")
    data = box.root / "data"
    (data / "nested").mkdir(parents=True)
    (data / "nested" / "deep.txt").write_text("deep\n")
    (box.root / "note.txt").write_text("note\n")
    artifacts = {"note": str(box.root / "note.txt"), "data": str(data)}
    cairn.pyfunc.save_model(target, python_model=ReadsArtifacts(), artifacts=artifacts)
    return target


def edit_mlmodel(model_dir: Path, change: Callable[[dict[str, Any]], None]) -> None:
    path = model_dir / "MLmodel"
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data))


def set_key(model_dir: Path, keys: tuple[str, ...], value: Any) -> None:
    def change(data: dict[str, Any]) -> None:
        node = data
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        node[keys[-1]] = value

    edit_mlmodel(model_dir, change)


# -- ways of pointing outside ------------------------------------------------------------


def pointer(box: Sandbox, model_dir: Path, target: Path, how: str) -> str:
    """A path, as an MLmodel entry, that reaches `target` outside the model `how`."""
    if how == "absolute":
        return str(target)
    if how == "dotdot":
        return os.path.relpath(target, model_dir)
    if how == "dotdot-behind-a-folder":
        return "code/../" + os.path.relpath(target, model_dir)
    if how == "etc-passwd":
        return "/etc/passwd"
    if how == "symlink":
        (model_dir / "innocent").symlink_to(target)
        return "innocent"
    raise ValueError(how)


WAYS = ("absolute", "dotdot", "dotdot-behind-a-folder", "etc-passwd", "symlink")
FOLDER_WAYS = ("absolute", "dotdot", "symlink")


@dataclass(frozen=True)
class Case:
    """One model directory and how it is loaded; `refusal` None for a legitimate model."""

    name: str
    build: Callable[[Sandbox], Path]
    load: Callable[[Path], Any]
    refusal: type[Exception] | None = None
    message: str = ""
    allow_pickle: bool = True

    @property
    def hostile(self) -> bool:
        return self.refusal is not None


def load_pyfunc(model_dir: Path) -> Any:
    return cairn.pyfunc.load_model(model_dir)


def load_sklearn(model_dir: Path) -> Any:
    return cairn.sklearn.load_model(str(model_dir))


def load_onnx(model_dir: Path) -> Any:
    return cairn.onnx.load_model(model_dir)


def load_example(model_dir: Path) -> Any:
    return cairn.pyfunc.load_model(model_dir).input_example


def _outside(name: str, build: Callable[[Sandbox], Path], load: Callable[[Path], Any]) -> Case:
    return Case(name, build, load, InvalidParameterValueError, OUTSIDE_MESSAGE)


def _pickled_model(how: str) -> Callable[[Sandbox], Path]:
    def build(box: Sandbox) -> Path:
        model_dir = sklearn_model(box)
        value = pointer(box, model_dir, box.outside / "evil.pkl", how)
        set_key(model_dir, ("flavors", "sklearn", "pickled_model"), value)
        return model_dir

    return build


def _python_model(how: str) -> Callable[[Sandbox], Path]:
    def build(box: Sandbox) -> Path:
        model_dir = custom_model(box)
        value = pointer(box, model_dir, box.outside / "evil.pkl", how)
        set_key(model_dir, ("flavors", "python_function", "python_model"), value)
        return model_dir

    return build


def _onnx_data(how: str) -> Callable[[Sandbox], Path]:
    def build(box: Sandbox) -> Path:
        model_dir = onnx_model(box)
        value = pointer(box, model_dir, box.outside / "model.onnx", how)
        set_key(model_dir, ("flavors", "onnx", "data"), value)
        return model_dir

    return build


def _artifact(how: str) -> Callable[[Sandbox], Path]:
    """An artifact outside; the model's own pickle leaves the marker, so a loader that
    unpickles before checking the artifacts is caught too."""

    def build(box: Sandbox) -> Path:
        model_dir = custom_model(box)
        (model_dir / "python_model.pkl").write_bytes(box.marker_pickle())
        value = pointer(box, model_dir, box.outside / "secret.txt", how)
        set_key(model_dir, ("flavors", "python_function", "artifacts", "note", "path"), value)
        return model_dir

    return build


def _code_folder(how: str, flavor: str = "python_function") -> Callable[[Sandbox], Path]:
    """`code` naming a folder outside whose module the model's pickle imports."""

    def build(box: Sandbox) -> Path:
        model_dir = sklearn_model(box)
        (model_dir / "model.pkl").write_bytes(box.importing_pickle())
        value = pointer(box, model_dir, box.outside / "code", how)
        set_key(model_dir, ("flavors", flavor, "code"), value)
        return model_dir

    return build


def _link_inside_code(box: Sandbox) -> Path:
    """A `code/` folder inside the model holding a link to a module outside."""
    model_dir = sklearn_model(box, code=True)
    (model_dir / "model.pkl").write_bytes(box.importing_pickle())
    (model_dir / "code" / f"{box.sentinel}.py").symlink_to(
        box.outside / "code" / f"{box.sentinel}.py"
    )
    return model_dir


def _example(how: str) -> Callable[[Sandbox], Path]:
    def build(box: Sandbox) -> Path:
        model_dir = sklearn_model(box, fmt="skops")
        value = pointer(box, model_dir, box.outside / "secret.txt", how)
        info = {"artifact_path": value, "type": "json_object"}
        set_key(model_dir, ("saved_input_example_info",), info)
        return model_dir

    return build


def _with_key(keys: tuple[str, ...], value: Any, fmt: str = "skops") -> Callable[[Sandbox], Path]:
    def build(box: Sandbox) -> Path:
        model_dir = sklearn_model(box, fmt=fmt)
        set_key(model_dir, keys, value)
        return model_dir

    return build


def _external_data_outside(box: Sandbox) -> Path:
    """An ONNX file whose weights live in a side file outside (onnxruntime refuses it)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    # Over onnx's 1 KB threshold, so the weights go to a side file.
    weights = numpy_helper.from_array(np.ones((32, 32), dtype=np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        "matmul",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 32])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 32])],
        [weights],
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    model_dir = box.model("onnx-external")
    cairn.onnx.save_model(proto, model_dir, save_as_external_data=True)
    graph_only = onnx.load(str(model_dir / "model.onnx"), load_external_data=False)
    for tensor in graph_only.graph.initializer:
        if tensor.data_location == TensorProto.EXTERNAL:
            side = next(e for e in tensor.external_data if e.key == "location")
            os.replace(model_dir / side.value, box.outside / "weights.bin")
            side.value = os.path.relpath(box.outside / "weights.bin", model_dir)
    onnx.save_model(graph_only, str(model_dir / "model.onnx"))
    return model_dir


def hostile_cases() -> list[Case]:
    cases = [
        Case("skops-code-pickles-off-pyfunc", lambda b: sklearn_model(b, "skops", True),
             load_pyfunc, PermissionDeniedError, CODE_MESSAGE, allow_pickle=False),
        Case("skops-code-pickles-off-sklearn", lambda b: sklearn_model(b, "skops", True),
             load_sklearn, PermissionDeniedError, CODE_MESSAGE, allow_pickle=False),
        Case("onnx-code-pickles-off-pyfunc", lambda b: onnx_model(b, code=True),
             load_pyfunc, PermissionDeniedError, CODE_MESSAGE, allow_pickle=False),
    ]  # fmt: skip
    for how in WAYS:
        cases += [
            _outside(f"sklearn-pickled_model-{how}-pyfunc", _pickled_model(how), load_pyfunc),
            _outside(f"sklearn-pickled_model-{how}-sklearn", _pickled_model(how), load_sklearn),
            _outside(f"pyfunc-python_model-{how}", _python_model(how), load_pyfunc),
            _outside(f"onnx-data-{how}-pyfunc", _onnx_data(how), load_pyfunc),
            _outside(f"onnx-data-{how}-onnx", _onnx_data(how), load_onnx),
            _outside(f"pyfunc-artifact-{how}", _artifact(how), load_pyfunc),
            _outside(f"input-example-{how}", _example(how), load_example),
        ]
    for how in FOLDER_WAYS:
        cases += [
            _outside(f"pyfunc-code-folder-{how}", _code_folder(how), load_pyfunc),
            _outside(f"sklearn-code-folder-{how}", _code_folder(how, "sklearn"), load_sklearn),
        ]
    env_keys = ("flavors", "python_function", "env", "virtualenv")
    serving_keys = ("saved_input_example_info", "serving_input_path")
    cases += [
        _outside("pyfunc-code-folder-link-inside", _link_inside_code, load_pyfunc),
        _outside("requirements-env-absolute", _with_key(env_keys, "/etc/passwd"), load_pyfunc),
        _outside("requirements-env-dotdot", _with_key(env_keys, "../../python_env.yaml"),
                 load_pyfunc),
        _outside("serving-input-dotdot", _with_key(serving_keys, "../secret.json"), load_pyfunc),
        _outside("pickled_model-not-a-string",
                 _with_key(("flavors", "sklearn", "pickled_model"), {"path": "x"}), load_sklearn),
        _outside("pickled_model-the-folder-itself",
                 _with_key(("flavors", "sklearn", "pickled_model"), "."), load_sklearn),
        Case("onnx-external-data-outside", _external_data_outside, load_pyfunc, Exception,
             r"escapes model directory|should be a relative path"),
    ]  # fmt: skip
    return cases


def _relative_subfolder(box: Sandbox) -> Path:
    """The pickle moved into a subfolder, and a link that stays inside the model."""
    model_dir = sklearn_model(box)
    (model_dir / "weights").mkdir()
    os.replace(model_dir / "model.pkl", model_dir / "weights" / "model.pkl")
    (model_dir / "current.pkl").symlink_to(model_dir / "weights" / "model.pkl")
    set_key(model_dir, ("flavors", "sklearn", "pickled_model"), "current.pkl")
    return model_dir


def _with_example(box: Sandbox) -> Path:
    target = box.model("sklearn-example")
    cairn.sklearn.save_model(_classifier(), target, input_example=_frame().head(2))
    return target


def legitimate_cases() -> list[Case]:
    return [
        Case("sklearn-code-pyfunc", lambda b: sklearn_model(b, code=True), load_pyfunc),
        Case("sklearn-code-sklearn", lambda b: sklearn_model(b, code=True), load_sklearn),
        Case("skops-pickles-off", lambda b: sklearn_model(b, "skops"), load_pyfunc,
             allow_pickle=False),
        Case("skops-code-pickles-on", lambda b: sklearn_model(b, "skops", True), load_pyfunc),
        Case("onnx-pickles-off", onnx_model, load_pyfunc, allow_pickle=False),
        Case("onnx-proto", onnx_model, load_onnx, allow_pickle=False),
        Case("onnx-code-pickles-on", lambda b: onnx_model(b, code=True), load_pyfunc),
        Case("pyfunc-artifacts-in-subfolders", custom_model, load_pyfunc),
        Case("sklearn-relative-subfolder-and-inner-link", _relative_subfolder, load_sklearn),
        Case("sklearn-input-example", _with_example, load_example),
    ]  # fmt: skip


# -- running a case ------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    case: str
    hostile: bool
    error: BaseException | None
    marker_written: bool
    sys_path_changed: bool
    refused: bool  # hostile: the expected error, no marker, sys.path untouched
    loaded: bool  # legitimate: loaded without error

    def describe(self) -> str:
        return (
            f"{self.case}: error={self.error!r}, marker_written={self.marker_written}, "
            f"sys_path_changed={self.sys_path_changed}"
        )


@contextlib.contextmanager
def _pickles(allowed: bool) -> Iterator[None]:
    saved = os.environ.get("CAIRN_ALLOW_PICKLE")
    os.environ["CAIRN_ALLOW_PICKLE"] = "true" if allowed else "false"
    try:
        yield
    finally:
        if saved is None:
            del os.environ["CAIRN_ALLOW_PICKLE"]
        else:
            os.environ["CAIRN_ALLOW_PICKLE"] = saved


def try_case(case: Case, folder: Path) -> Outcome:
    """Build the case in `folder` (new), load it, and say what happened; the process's
    sys.path and modules are restored afterwards."""
    box = Sandbox.create(folder)
    model_dir = case.build(box)
    path_before = list(sys.path)
    modules_before = set(sys.modules)
    error: BaseException | None = None
    try:
        with _pickles(case.allow_pickle):
            case.load(model_dir)
    except Exception as raised:
        error = raised
    finally:
        changed = sys.path != path_before
        sys.path[:] = path_before
        for name in set(sys.modules) - modules_before:
            if name.startswith(("hostile_sentinel_", "shipped_")):
                del sys.modules[name]
    marker = box.marker.exists()
    expected = (
        case.refusal is not None
        and isinstance(error, case.refusal)
        and re.search(case.message, str(error)) is not None
    )
    return Outcome(
        case.name,
        case.hostile,
        error,
        marker,
        changed,
        refused=bool(expected) and not marker and not changed,
        loaded=error is None,
    )


def run_corpus(folder: Path) -> list[Outcome]:
    """Every hostile and legitimate case, each in its own subfolder of `folder`."""
    return [
        try_case(case, folder / f"{index:03d}-{case.name}")
        for index, case in enumerate([*hostile_cases(), *legitimate_cases()])
    ]
