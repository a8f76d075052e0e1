"""Datasets from pandas DataFrames: `cairn.data.from_pandas`.

pandas is imported when a frame is hashed, not when `cairn.data` is: a user who only logs
files never loads it.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from cairn.data.dataset import Dataset, JsonObject
from cairn.data.digests import digest_of
from cairn.data.sources import DatasetSource, resolve_source
from cairn.exceptions import CairnError, InvalidParameterValueError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from cairn.types.schema import DataType

# Rows hashed (and sampled for the schema), as MLflow caps its pandas digest.
MAX_ROWS = 10_000


class PandasDataset(Dataset):
    """A DataFrame with its digest; `targets`/`predictions` name columns of `df`."""

    def __init__(
        self,
        df: pd.DataFrame,
        source: DatasetSource,
        digest: str,
        name: str | None = None,
        targets: str | None = None,
        predictions: str | None = None,
    ) -> None:
        super().__init__(source, digest, name, frame_schema(df), frame_profile(df))
        self._df = df
        self._targets = targets
        self._predictions = predictions

    @property
    def df(self) -> pd.DataFrame:
        return self._df

    @property
    def targets(self) -> str | None:
        return self._targets

    @property
    def predictions(self) -> str | None:
        return self._predictions


def from_pandas(
    df: pd.DataFrame,
    source: str | os.PathLike[str] | DatasetSource | None = None,
    targets: str | None = None,
    name: str | None = None,
    digest: str | None = None,
    predictions: str | None = None,
) -> PandasDataset:
    """A dataset of a DataFrame (MLflow's argument order).

    The digest hashes the frame's shape, column names and the values of its first
    10,000 rows (and its index, unless it is a plain RangeIndex), as MLflow caps the work:
    any change to one of those values changes it; a change only past row 10,000 does not,
    unless it changes the row count. The same data gives the same digest in any process
    and with pandas 2 or 3 (see `canonical.py`).

    Args:
        df: the frame.
        source: where it came from (a path, a URI or a DatasetSource); None means code.
        targets: the label column, if any.
        name: defaults to "dataset", as in MLflow.
        digest: your own digest, instead of hashing.
        predictions: the column of model predictions, if any.

    Example:
        >>> dataset = cairn.data.from_pandas(train_df, source="s3://bucket/train.parquet",
        ...                                  targets="label", name="train")
    """
    import pandas as pd

    if not isinstance(df, pd.DataFrame):
        raise InvalidParameterValueError(f"from_pandas needs a DataFrame, not {type(df)}.")
    for role, column in (("targets", targets), ("predictions", predictions)):
        if column is not None and column not in df.columns:
            raise InvalidParameterValueError(f"The DataFrame has no {role} column {column!r}.")
    return PandasDataset(
        df,
        resolve_source(source),
        digest or frame_digest(df),
        name,
        targets,
        predictions,
    )


def frame_digest(df: pd.DataFrame) -> str:
    return digest_of(_frame_parts(df))


def _frame_parts(df: pd.DataFrame) -> Iterator[bytes]:
    import pandas as pd

    from cairn.data.canonical import array_bytes

    yield struct.pack("<qq", *df.shape)
    head = df.iloc[:MAX_ROWS]
    columns: list[tuple[str, pd.Series | pd.Index]] = []
    if not isinstance(df.index, pd.RangeIndex):
        columns.append(("\x00index", head.index))
    columns += [(str(name), head.iloc[:, i]) for i, name in enumerate(df.columns)]
    for label, values in columns:
        yield label.encode("utf-8", "surrogatepass")
        yield from array_bytes(_numpy_values(values))


def _numpy_values(values: pd.Series | pd.Index) -> np.ndarray[Any, Any]:
    """A numpy array for numpy dtypes; an object array of values for pandas' own dtypes
    (nullable, categorical, `str`, tz-aware), so the digest never depends on storage."""
    import numpy as np

    if isinstance(values.dtype, np.dtype):
        return np.asarray(values.to_numpy())
    return np.asarray(values.to_numpy(dtype=object))


def frame_schema(df: pd.DataFrame) -> JsonObject | None:
    """MLflow's colspec schema, types read from the dtypes (object columns from a sample).
    None when a column has no MLflow type (mixed objects, uint64), as MLflow gives None."""
    from cairn.types.schema import ColSpec

    head = df.iloc[:MAX_ROWS]
    try:
        specs = [
            ColSpec(_column_type(head.iloc[:, i]), str(name)).to_dict()
            for i, name in enumerate(df.columns)
        ]
    except CairnError:
        return None
    return {"mlflow_colspec": specs}


def _column_type(values: pd.Series) -> DataType:
    from cairn.types.inference import column_type

    try:
        return column_type(values)
    except TypeError:  # a pandas dtype numpy cannot name (categorical…): judge the values
        return column_type(values.astype(object))


def frame_profile(df: pd.DataFrame) -> JsonObject:
    rows, columns = df.shape
    return {"num_rows": int(rows), "num_elements": int(df.size), "num_columns": int(columns)}
