"""Digests: the same data gives the same digest in another process; one changed value or
byte gives another; the work is capped as documented."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cairn import data
from cairn.data import digests

# Built the same way here and in the child process.
FRAME_CODE = """
import numpy as np, pandas as pd
frame = pd.DataFrame({
    "x": np.linspace(0.0, 1.0, 500),
    "n": np.arange(500, dtype="int32"),
    "s": [f"row {i}" if i % 7 else None for i in range(500)],
    "t": pd.date_range("2024-01-01", periods=500, freq="h"),
    "b": np.arange(500) % 2 == 0,
    "c": pd.Categorical(["red", "green"] * 250),
})
arrays = {"pixels": np.arange(2400, dtype="uint8").reshape(100, 24), "label": np.arange(100) % 3}
"""


def _build() -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    namespace: dict[str, object] = {}
    exec(FRAME_CODE, namespace)
    return namespace["frame"], namespace["arrays"]  # type: ignore[return-value]


def _digests_in_child(csv: Path, folder: Path) -> dict[str, str]:
    code = FRAME_CODE + textwrap.dedent(f"""
        import json
        from cairn import data
        print(json.dumps({{
            "frame": data.from_pandas(frame).digest,
            "arrays": data.from_numpy(arrays).digest,
            "file": data.from_path({str(csv)!r}).digest,
            "folder": data.from_path({str(folder)!r}).digest,
        }}))
    """)
    # Another hash seed: nothing may depend on Python's per-process str hashing.
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_digests_are_stable_across_processes(tmp_path: Path) -> None:
    frame, arrays = _build()
    csv = tmp_path / "train.csv"
    frame.to_csv(csv, index=False)
    folder = tmp_path / "parts"
    folder.mkdir()
    frame.iloc[:250].to_csv(folder / "a.csv", index=False)
    frame.iloc[250:].to_csv(folder / "b.csv", index=False)

    here = {
        "frame": data.from_pandas(frame).digest,
        "arrays": data.from_numpy(arrays).digest,
        "file": data.from_path(csv).digest,
        "folder": data.from_path(folder).digest,
    }
    assert _digests_in_child(csv, folder) == here
    assert all(len(d) == digests.DIGEST_CHARS and int(d, 16) >= 0 for d in here.values())


def test_frame_digest_is_pinned() -> None:
    """The digest of a fixed frame, written down: a pandas or numpy upgrade that changed it
    would make every logged dataset look new. (Checked equal with pandas 2.2 and 3.1.)"""
    frame, arrays = _build()
    assert data.from_pandas(frame).digest == PINNED_FRAME
    assert data.from_numpy(arrays).digest == PINNED_ARRAYS


PINNED_FRAME = "5be42812d2d58b77"
PINNED_ARRAYS = "cc171975dcdd6f99"


@pytest.mark.parametrize(
    ("column", "row", "value"),
    [("x", 3, 0.5), ("n", 499, 7), ("s", 0, "row 0!"), ("s", 7, "was missing"), ("b", 1, True)],
)
def test_one_changed_value_changes_the_frame_digest(column: str, row: int, value: object) -> None:
    frame, _ = _build()
    before = data.from_pandas(frame).digest
    changed = frame.copy()
    changed.loc[row, column] = value
    assert data.from_pandas(changed).digest != before
    assert data.from_pandas(frame.copy()).digest == before  # a copy is the same data


def test_frame_digest_hashes_data_not_layout() -> None:
    frame, _ = _build()
    numeric = frame[["x", "n"]]
    fortran = pd.DataFrame(np.asfortranarray(numeric.to_numpy()), columns=["x", "n"])
    c_order = pd.DataFrame(np.ascontiguousarray(numeric.to_numpy()), columns=["x", "n"])
    assert data.from_pandas(fortran).digest == data.from_pandas(c_order).digest
    # Renaming a column or reordering rows is a different dataset.
    assert data.from_pandas(numeric.rename(columns={"x": "y"})).digest != (
        data.from_pandas(numeric).digest
    )
    reordered = numeric.iloc[::-1].reset_index(drop=True)
    assert data.from_pandas(reordered).digest != data.from_pandas(numeric).digest


def test_frame_digest_is_capped_at_the_first_rows_plus_shape() -> None:
    frame = pd.DataFrame({"v": np.arange(12_000, dtype="float64")})
    digest = data.from_pandas(frame).digest
    past_cap = frame.copy()
    past_cap.loc[11_000, "v"] = -1.0
    assert data.from_pandas(past_cap).digest == digest  # beyond row 10,000: not hashed
    within = frame.copy()
    within.loc[9_999, "v"] = -1.0
    assert data.from_pandas(within).digest != digest
    assert data.from_pandas(frame.iloc[:-1]).digest != digest  # the row count is hashed


def test_a_non_default_index_is_data() -> None:
    frame = pd.DataFrame({"v": [1.0, 2.0]}, index=pd.to_datetime(["2024-01-01", "2024-01-02"]))
    shifted = frame.set_axis(pd.to_datetime(["2024-01-01", "2024-01-03"]))
    assert data.from_pandas(frame).digest != data.from_pandas(shifted).digest
    ranged = pd.DataFrame({"v": [1.0, 2.0]})
    assert data.from_pandas(ranged).digest == data.from_pandas(ranged.copy()).digest


def test_pandas_string_storage_does_not_change_the_digest() -> None:
    """pandas 2's object column of str and pandas 3's `str` column hold the same data."""
    values = ["a", None, "c"]
    as_object = pd.DataFrame({"s": pd.Series(values, dtype=object)})
    as_string = pd.DataFrame({"s": pd.Series(values, dtype="string")})
    assert data.from_pandas(as_object).digest == data.from_pandas(as_string).digest


def test_one_changed_element_changes_the_numpy_digest() -> None:
    _, arrays = _build()
    before = data.from_numpy(arrays).digest
    pixels = arrays["pixels"].copy()
    pixels[50, 3] += 1
    assert data.from_numpy({**arrays, "pixels": pixels}).digest != before
    assert data.from_numpy(arrays["pixels"], targets=arrays["label"]).digest != before
    features = np.arange(30.0).reshape(10, 3)
    with_targets = data.from_numpy(features, targets=np.zeros(10)).digest
    assert data.from_numpy(features).digest != with_targets
    assert data.from_numpy(features, targets=np.ones(10)).digest != with_targets


def test_numpy_digest_does_not_copy_a_big_array() -> None:
    """Only the first rows are read: a strided view of a big array hashes without copying
    it whole (MLflow's flatten() copies every element first)."""
    big = np.zeros((1_000_000, 64), dtype="float32")[:, ::2]  # not contiguous
    assert data.from_numpy(big).digest == data.from_numpy(big.copy()).digest


def test_one_changed_byte_changes_a_file_digest(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    body = bytearray(b"a,b\n" + b"1,2\n" * 700_000)  # ~2.8 MB: several 1 MiB chunks
    path.write_bytes(body)
    before = data.from_path(path).digest
    for offset in (0, digests.CHUNK_BYTES - 1, digests.CHUNK_BYTES, len(body) - 2):
        body[offset] ^= 1
        path.write_bytes(body)
        assert data.from_path(path).digest != before, offset
        body[offset] ^= 1
    path.write_bytes(body)
    assert data.from_path(path).digest == before


def test_a_file_digest_is_its_content(tmp_path: Path) -> None:
    first, second = tmp_path / "a.csv", tmp_path / "copy" / "b.csv"
    second.parent.mkdir()
    first.write_text("x\n1\n")
    second.write_text("x\n1\n")
    assert data.from_path(first).digest == data.from_path(second).digest


def test_a_folder_digest_covers_names_and_contents(tmp_path: Path) -> None:
    folder = tmp_path / "parts"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.csv").write_text("x\n1\n")
    (folder / "sub" / "b.csv").write_text("x\n2\n")
    before = data.from_path(folder).digest
    (folder / "sub" / "b.csv").write_text("x\n3\n")
    assert data.from_path(folder).digest != before
    (folder / "sub" / "b.csv").write_text("x\n2\n")
    assert data.from_path(folder).digest == before
    (folder / "sub" / "b.csv").rename(folder / "sub" / "c.csv")
    assert data.from_path(folder).digest != before
    (folder / "sub" / "c.csv").rename(folder / "sub" / "b.csv")
    (folder / "_SUCCESS").write_text("")  # not data: ignored
    (folder / ".b.csv.crc").write_text("junk")
    assert data.from_path(folder).digest == before


def test_the_hashing_pass_counts_lines_across_chunk_boundaries(tmp_path: Path) -> None:
    path = tmp_path / "lines.txt"
    path.write_bytes(b"x" * 9 + b"\n" + b"y" * 5)  # the last line has no newline
    scan = digests.scan_file(path, digests.new_hasher(), count_newlines=True, chunk_bytes=4)
    assert (scan.size, scan.newlines, scan.lines) == (15, 1, 2)
    whole = digests.new_hasher()
    whole.update(path.read_bytes())
    chunked = digests.new_hasher()
    digests.scan_file(path, chunked, chunk_bytes=4)
    assert chunked.hexdigest() == whole.hexdigest()
