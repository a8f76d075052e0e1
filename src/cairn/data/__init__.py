"""Datasets for `cairn.log_input`, with MLflow's names (`mlflow.data`).

    import cairn
    train = cairn.data.from_pandas(train_df, targets="label", name="train")
    with cairn.start_run():
        cairn.log_input(train, context="training")

Every constructor gives a `Dataset` with a short content digest: the same data gives the
same digest in any process, so a dataset logged again, by any run of the experiment, is
stored once. pandas, numpy, pyarrow and boto3 load only when a constructor needs them.
"""

from __future__ import annotations

from cairn.data.dataset import Dataset
from cairn.data.files import FileDataset, from_path
from cairn.data.numpy_dataset import NumpyDataset, from_numpy
from cairn.data.pandas_dataset import PandasDataset, from_pandas
from cairn.data.remote import from_uri
from cairn.data.sources import DatasetSource

__all__ = [
    "Dataset",
    "DatasetSource",
    "FileDataset",
    "NumpyDataset",
    "PandasDataset",
    "from_numpy",
    "from_pandas",
    "from_path",
    "from_uri",
]
