"""Datasets from numpy arrays (or dicts of arrays): `cairn.data.from_numpy`.

Schema and profile take MLflow's shapes: `{"mlflow_tensorspec": {"features": "<json>",
"targets": "<json>"}}` and `features_shape`/`features_size`/`features_nbytes` (+ targets).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from cairn.data.dataset import Dataset, JsonObject
from cairn.data.digests import digest_of
from cairn.data.sources import DatasetSource, resolve_source
from cairn.exceptions import InvalidParameterValueError

if TYPE_CHECKING:
    import numpy as np

    Arrays = np.ndarray[Any, Any] | dict[str, np.ndarray[Any, Any]]

# Elements hashed per array (in C order), as MLflow caps its numpy digest.
MAX_ELEMENTS = 10_000


class NumpyDataset(Dataset):
    """Features and optional targets, each an array or a dict of named arrays."""

    def __init__(
        self,
        features: Arrays,
        source: DatasetSource,
        digest: str,
        name: str | None = None,
        targets: Arrays | None = None,
    ) -> None:
        schema = arrays_schema(features, targets)
        super().__init__(source, digest, name, schema, arrays_profile(features, targets))
        self._features = features
        self._targets = targets

    @property
    def features(self) -> Arrays:
        return self._features

    @property
    def targets(self) -> Arrays | None:
        return self._targets


def from_numpy(
    features: Any,
    source: str | os.PathLike[str] | DatasetSource | None = None,
    targets: Any = None,
    name: str | None = None,
    digest: str | None = None,
) -> NumpyDataset:
    """A dataset of arrays (MLflow's argument order).

    The digest hashes each array's full shape and its first 10,000 elements in C order
    (dict entries in key order, with their keys), features then targets: a change to one of
    those elements or to a shape changes it, in any process.

    Example:
        >>> dataset = cairn.data.from_numpy(x_train, targets=y_train, name="mnist-train")
    """
    feature_arrays = _as_arrays(features, "features")
    target_arrays = None if targets is None else _as_arrays(targets, "targets")
    return NumpyDataset(
        feature_arrays,
        resolve_source(source),
        digest or arrays_digest(feature_arrays, target_arrays),
        name,
        target_arrays,
    )


def _as_arrays(data: Any, role: str) -> Arrays:
    import numpy as np

    if isinstance(data, Mapping):
        if not data:
            raise InvalidParameterValueError(f"The {role} dict is empty.")
        return {str(key): np.asarray(value) for key, value in data.items()}
    return np.asarray(data)


def arrays_digest(features: Arrays, targets: Arrays | None) -> str:
    return digest_of(_parts(features, targets))


def _parts(features: Arrays, targets: Arrays | None) -> Iterator[bytes]:
    from cairn.data.canonical import array_parts

    for role, arrays in (("features", features), ("targets", targets)):
        if arrays is None:
            continue
        yield role.encode()
        named = sorted(arrays.items()) if isinstance(arrays, dict) else [("", arrays)]
        for key, array in named:
            yield key.encode("utf-8", "surrogatepass")
            yield from array_parts(array, MAX_ELEMENTS)


def arrays_schema(features: Arrays, targets: Arrays | None) -> JsonObject:
    return {
        "mlflow_tensorspec": {
            "features": _tensor_schema(features),
            "targets": None if targets is None else _tensor_schema(targets),
        }
    }


def _tensor_schema(arrays: Arrays) -> str:
    from cairn.types.inference import tensor_spec

    if isinstance(arrays, dict):
        return json.dumps([tensor_spec(a, key).to_dict() for key, a in arrays.items()])
    return json.dumps([tensor_spec(arrays).to_dict()])


def arrays_profile(features: Arrays, targets: Arrays | None) -> JsonObject:
    profile: JsonObject = {}
    for role, arrays in (("features", features), ("targets", targets)):
        if arrays is None:
            continue
        for attribute in ("shape", "size", "nbytes"):
            profile[f"{role}_{attribute}"] = _attribute(arrays, attribute)
    return profile


def _attribute(arrays: Arrays, attribute: str) -> object:
    if isinstance(arrays, dict):
        return {key: _plain(getattr(a, attribute)) for key, a in arrays.items()}
    return _plain(getattr(arrays, attribute))


def _plain(value: object) -> object:
    """Shapes as JSON lists."""
    return list(value) if isinstance(value, tuple) else value
