"""Python objects to artifact files and back: text, dicts, figures, images, tables.

Each writer picks the format from the file's extension where there is a choice, and
imports its library (PyYAML, matplotlib, plotly, Pillow, pandas) only when asked to.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

from cairn.exceptions import InvalidParameterValueError
from cairn.extras import MissingExtraError, require

if TYPE_CHECKING:
    import pandas

TABLE_EXTENSIONS = (".json",)
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp", ".tif", ".tiff")


def _extension(path: str) -> str:
    return os.path.splitext(path)[1].lower()


def write_text(path: str, text: str) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)


def write_dict(path: str, dictionary: Any) -> None:
    """JSON, or YAML for .yaml/.yml files (JSON when the name has another extension)."""
    if _extension(path) in (".yaml", ".yml"):
        import yaml

        with open(path, "w", encoding="utf-8") as handle:
            yaml.safe_dump(dictionary, handle, default_flow_style=False, sort_keys=False)
        return
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(dictionary, handle, indent=2, default=str)


def read_dict(path: str) -> Any:
    with open(path, encoding="utf-8") as handle:
        if _extension(path) in (".yaml", ".yml"):
            import yaml

            return yaml.safe_load(handle)
        return json.load(handle)


def write_figure(path: str, figure: Any, save_kwargs: dict[str, Any] | None = None) -> None:
    """A matplotlib figure (any format savefig knows) or a plotly figure (.html or .json)."""
    kind = type(figure).__module__.split(".", 1)[0]
    if kind == "matplotlib":
        figure.savefig(path, **(save_kwargs or {}))
    elif kind == "plotly":
        extension = _extension(path)
        if extension == ".html":
            figure.write_html(path, include_plotlyjs="cdn", **(save_kwargs or {}))
        elif extension == ".json":
            write_text(path, figure.to_json())
        else:
            figure.write_image(path, **(save_kwargs or {}))  # needs plotly's kaleido
    else:
        raise InvalidParameterValueError(
            f"Cannot log a figure of type {type(figure).__name__}: expected a matplotlib or a "
            "plotly figure."
        )


def write_image(path: str, image: Any) -> None:
    """A PIL image or a numpy array (H×W, H×W×1, H×W×3 or H×W×4; uint8, or floats in [0, 1])."""
    pil = _pillow()
    if not isinstance(image, pil.Image):
        image = pil.fromarray(_as_uint8(image))
    image.save(path)


def read_image(path: str) -> Any:
    """A PIL image (its pixels loaded, the file closed)."""
    with _pillow().open(path) as image:
        image.load()
        return image


def _as_uint8(array: Any) -> Any:
    import numpy

    data = numpy.asarray(array)
    if data.ndim == 3 and data.shape[2] == 1:
        data = data[:, :, 0]
    if data.ndim not in (2, 3) or data.ndim == 3 and data.shape[2] not in (3, 4):
        raise InvalidParameterValueError(
            f"An image array must be H×W, H×W×1, H×W×3 or H×W×4; got shape {data.shape}."
        )
    if data.dtype == numpy.uint8:
        return data
    if data.dtype.kind == "f":
        if data.size and (numpy.nanmin(data) < 0 or numpy.nanmax(data) > 1):
            raise InvalidParameterValueError("A float image's values must lie in [0, 1].")
        return (numpy.nan_to_num(data) * 255).round().astype(numpy.uint8)
    if data.dtype.kind in "iub":
        if data.size and (data.min() < 0 or data.max() > 255):
            raise InvalidParameterValueError("An integer image's values must lie in [0, 255].")
        return data.astype(numpy.uint8)
    raise InvalidParameterValueError(f"Unsupported image array type {data.dtype}.")


def _pillow() -> Any:
    try:
        return require("PIL.Image", extra="images", needed_for="Logging or loading images")
    except MissingExtraError as missing:
        raise InvalidParameterValueError(str(missing)) from None


def table_from(data: Any) -> pandas.DataFrame:
    """A DataFrame from a DataFrame or a dict of columns (or of scalars: one row)."""
    import pandas

    if isinstance(data, pandas.DataFrame):
        return data
    if isinstance(data, dict):
        columns = any(isinstance(v, (list, tuple)) or hasattr(v, "shape") for v in data.values())
        return pandas.DataFrame(data) if columns else pandas.DataFrame([data])
    raise InvalidParameterValueError(
        f"A table must be a pandas DataFrame or a dict, got {type(data).__name__}."
    )


def write_table(path: str, table: pandas.DataFrame) -> None:
    """MLflow's table layout: {"columns": [...], "data": [[...], ...]} in JSON."""
    if _extension(path) not in TABLE_EXTENSIONS:
        raise InvalidParameterValueError(f"A table artifact must be a .json file, got {path!r}.")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(table.to_json(orient="split", index=False, date_format="iso"))


def read_table(path: str) -> pandas.DataFrame:
    import pandas

    with open(path, encoding="utf-8") as handle:
        layout = json.load(handle)
    return pandas.DataFrame(layout["data"], columns=layout["columns"])
