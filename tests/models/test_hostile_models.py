"""Loading a model never reaches outside its folder (issue 19).

Every path an MLmodel names must stay inside the model folder, and a process that refuses
pickles refuses the code a model ships too. The corpus (`hostile_support.py`) builds each
hostile model for real, with traps outside that leave a marker if unpickled or imported.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pandas as pd
import pytest

# A plain module beside this file (conftest modules cannot be imported reliably).
from hostile_support import (
    Case,
    Sandbox,
    hostile_cases,
    legitimate_cases,
    run_corpus,
    sklearn_model,
    try_case,
)

import cairn
from cairn.exceptions import InvalidParameterValueError, PermissionDeniedError
from cairn.models.containment import model_file

HOSTILE = {case.name: case for case in hostile_cases()}
LEGITIMATE = {case.name: case for case in legitimate_cases()}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_hostile_model_is_refused_before_anything_outside_is_loaded(
    name: str, tmp_path: Path
) -> None:
    case: Case = HOSTILE[name]
    outcome = try_case(case, tmp_path / "case")
    assert outcome.error is not None, f"{name} loaded"
    assert case.refusal is not None
    assert isinstance(outcome.error, case.refusal), outcome.describe()
    assert outcome.refused, outcome.describe()
    assert not outcome.marker_written
    assert not outcome.sys_path_changed


@pytest.mark.parametrize("name", sorted(LEGITIMATE))
def test_a_legitimate_model_still_loads(name: str, tmp_path: Path) -> None:
    outcome = try_case(LEGITIMATE[name], tmp_path / "case")
    assert outcome.loaded, outcome.describe()
    assert not outcome.marker_written  # nothing shipped was imported needlessly


def test_the_corpus_covers_every_class_and_counts_for_a_benchmark(tmp_path: Path) -> None:
    outcomes = run_corpus(tmp_path)
    hostile = [o for o in outcomes if o.hostile]
    assert len(hostile) == len(HOSTILE) >= 50
    assert [o.describe() for o in hostile if not o.refused] == []
    assert all(o.loaded for o in outcomes if not o.hostile)


def test_the_code_refusal_names_the_setting_and_the_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    box = Sandbox.create(tmp_path)
    model_dir = sklearn_model(box, fmt="skops", code=True)
    monkeypatch.setenv("CAIRN_ALLOW_PICKLE", "false")
    before = list(sys.path)
    with pytest.raises(PermissionDeniedError) as raised:
        cairn.pyfunc.load_model(model_dir)
    assert "CAIRN_ALLOW_PICKLE" in raised.value.message
    assert str(model_dir / "code") in raised.value.message
    assert sys.path == before


def test_a_loaded_custom_model_sees_only_paths_inside_it(tmp_path: Path) -> None:
    case = LEGITIMATE["pyfunc-artifacts-in-subfolders"]
    model_dir = case.build(Sandbox.create(tmp_path))
    loaded = cairn.pyfunc.load_model(model_dir)
    python_model = loaded.unwrap_python_model()
    assert python_model.texts == {"note": "note\n", "data": ["nested"]}
    frame = pd.DataFrame({"x": [1]})
    assert loaded.predict(frame).equals(frame)


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("/etc/passwd", "absolute"),
        ("../x", "'..'"),
        ("a/../../x", "'..'"),
        ("a\\..\\x", "backslash"),
        ("%2e%2e/x", "'..'"),
        ("", "names the model folder itself"),
        (None, "is not a path"),
        (3, "is not a path"),
    ],
)
def test_model_file_refuses_what_leaves_the_folder(tmp_path: Path, value: object, why: str) -> None:
    with pytest.raises(InvalidParameterValueError, match=why) as raised:
        model_file(str(tmp_path), value, "flavor.key")
    assert "flavor.key" in raised.value.message


def test_model_file_follows_links_that_stay_inside(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "f").write_text("x")
    os.symlink(tmp_path / "real", tmp_path / "alias")
    assert model_file(str(tmp_path), "alias/f", "k") == str(tmp_path / "alias" / "f")
    assert model_file(str(tmp_path), "real/", "k") == str(tmp_path / "real")
