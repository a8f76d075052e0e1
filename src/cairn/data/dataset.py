"""The Dataset a user holds: name, digest, source, schema and profile, as MLflow has them.

`to_entity()` gives the stored form (`cairn.entities.Dataset`, every field a string), which
is what `log_input` sends. The digest is computed once, when the dataset is built: an
in-memory frame changed afterwards keeps its old digest, as in MLflow, so build the dataset
from the data you actually train on.
"""

from __future__ import annotations

import json

from cairn.data.sources import DatasetSource
from cairn.entities import Dataset as DatasetEntity
from cairn.exceptions import InvalidParameterValueError

DEFAULT_NAME = "dataset"  # MLflow's name for a dataset given none

JsonObject = dict[str, object]


class Dataset:
    """A dataset's identity (name + digest) and description (source, schema, profile).

    Example:
        >>> dataset = cairn.data.from_path("data/train.csv", targets="label")
        >>> cairn.log_input(dataset, context="training")
    """

    def __init__(
        self,
        source: DatasetSource,
        digest: str,
        name: str | None = None,
        schema: JsonObject | None = None,
        profile: JsonObject | None = None,
    ) -> None:
        if not digest:
            raise InvalidParameterValueError("A dataset needs a digest.")
        self._source = source
        self._digest = digest
        self._name = name or DEFAULT_NAME
        self._schema = schema
        self._profile = profile
        self._entity: DatasetEntity | None = None

    @property
    def name(self) -> str:
        return self._name

    @property
    def digest(self) -> str:
        """A short hex content hash: the same data gives the same digest in any process."""
        return self._digest

    @property
    def source(self) -> DatasetSource:
        return self._source

    @property
    def source_type(self) -> str:
        return self._source.source_type

    @property
    def schema(self) -> JsonObject | None:
        """MLflow's schema object, e.g. `{"mlflow_colspec": [{"type": "double", …}]}`."""
        return self._schema

    @property
    def profile(self) -> JsonObject | None:
        """Summary figures, e.g. `{"num_rows": …, "num_elements": …}`."""
        return self._profile

    def to_dict(self) -> dict[str, str | None]:
        """MLflow's `Dataset.to_dict()`: every field a string, schema and profile as JSON."""
        entity = self.to_entity()
        return {
            "name": entity.name,
            "digest": entity.digest,
            "source": entity.source,
            "source_type": entity.source_type,
            "schema": entity.schema,
            "profile": entity.profile,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    def to_entity(self) -> DatasetEntity:
        """The stored form; built once, so logging the same dataset again costs no JSON."""
        if self._entity is None:
            self._entity = DatasetEntity(
                name=self._name,
                digest=self._digest,
                source_type=self._source.source_type,
                source=self._source.to_json(),
                schema=None if self._schema is None else json.dumps(self._schema),
                profile=None if self._profile is None else json.dumps(self._profile),
            )
        return self._entity

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} name={self._name!r} digest={self._digest!r} "
            f"source_type={self.source_type!r}>"
        )
