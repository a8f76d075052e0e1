"""The classifier plots' figures, drawn once per process and reused for every fit.

Drawing a matplotlib figure costs mostly its axes, ticks and texts (30-40 ms a figure, as
much as 1-2% of fitting a forest on 10,000 rows); a plot's data (a curve, a legend, a
matrix's colors and numbers) is a few artists. So each kind of figure is drawn once
without its data, its pixels kept, and each plot restores them and draws only its data
on top (matplotlib's blitting), then writes the canvas as a PNG: 5-10 ms a plot.

Figures are `matplotlib.figure.Figure` objects with their own Agg canvas and explicit font
sizes: pyplot, the user's backend and the global `rcParams` are never touched. A template
depends only on its texts (the positive label, the class names), so a few are kept (the
latest `MAX_TEMPLATES`); one lock serializes their use.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable, Sequence
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from matplotlib.artist import Artist
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

SIZE_INCHES = (6.0, 4.0)
DPI = 100
FONT_SIZE = 8.0  # MLflow's
ANNOTATED_CLASSES = 10  # beyond, the cells' numbers would be too small to read
MAX_TEMPLATES = 6
LegendPlace = Literal["lower right", "lower left"]
UNIT_TICKS = (0.0, 0.25, 0.5, 0.75, 1.0)
PNG_COMPRESSION = 1  # a few kB more than the default 6, a third of the encoding time

_lock = threading.Lock()
_templates: OrderedDict[Hashable, _Template] = OrderedDict()


class _Template:
    """A figure whose `data` artists are drawn per plot over its kept background."""

    def __init__(self, figure: Figure, data: Sequence[Artist]) -> None:
        self.figure = figure
        self._data = list(data)
        for artist in self._data:
            artist.set_animated(True)  # left out of the background
        canvas = figure.canvas
        canvas.draw()
        self._background = canvas.copy_from_bbox(figure.bbox)  # type: ignore[attr-defined]

    def save(self, path: str) -> None:
        import numpy as np
        from PIL import Image

        canvas: Any = self.figure.canvas
        canvas.restore_region(self._background)
        for artist in self._data:
            self.figure.draw_artist(artist)
        pixels = np.asarray(canvas.buffer_rgba())
        Image.fromarray(pixels).save(path, format="png", compress_level=PNG_COMPRESSION)


class _Curve(_Template):
    """A curve on the unit square, with a one-line legend."""

    def __init__(
        self, title: str, x_label: str, y_label: str, legend_at: LegendPlace, steps: bool
    ) -> None:
        figure, axes = _figure(title)
        drawstyle = "steps-post" if steps else "default"
        (self.line,) = axes.plot([], [], drawstyle=drawstyle)
        self.legend = axes.legend([self.line], [""], loc=legend_at, fontsize=FONT_SIZE)
        axes.set_xlim(-0.01, 1.01)
        axes.set_ylim(-0.01, 1.01)
        axes.set_xticks(UNIT_TICKS)
        axes.set_yticks(UNIT_TICKS)
        axes.set_xlabel(x_label, fontsize=FONT_SIZE)
        axes.set_ylabel(y_label, fontsize=FONT_SIZE)
        figure.subplots_adjust(left=0.1, right=0.97, bottom=0.12, top=0.92)
        super().__init__(figure, [self.line, self.legend])

    def plot(self, path: str, x: Any, y: Any, label: str) -> None:
        self.line.set_data(x, y)
        self.legend.get_texts()[0].set_text(label)
        self.save(path)


class _Matrix(_Template):
    """A square matrix of values in [0, 1], in shades of blue, numbered when small."""

    def __init__(self, title: str, class_names: Sequence[str]) -> None:
        import numpy as np

        figure, axes = _figure(title)
        count = len(class_names)
        self.image = axes.imshow(np.zeros((count, count)), cmap="Blues", vmin=0.0, vmax=1.0)
        colorbar = figure.colorbar(self.image, ax=axes, ticks=UNIT_TICKS)
        colorbar.ax.tick_params(labelsize=FONT_SIZE)
        self.cells = []
        if count <= ANNOTATED_CLASSES:
            size = min(FONT_SIZE, 50.0 / count)  # MLflow's
            self.cells = [
                axes.text(column, row, "", ha="center", va="center", fontsize=size)
                for row in range(count)
                for column in range(count)
            ]
            axes.set_xticks(range(count), list(class_names))
            axes.set_yticks(range(count), list(class_names))
        axes.set_xlabel("Predicted label", fontsize=FONT_SIZE)
        axes.set_ylabel("True label", fontsize=FONT_SIZE)
        figure.subplots_adjust(left=0.12, right=0.98, bottom=0.13, top=0.92)
        # The spines after the image, which would cover them.
        super().__init__(figure, [self.image, *axes.spines.values(), *self.cells])

    def plot(self, path: str, matrix: Any) -> None:
        self.image.set_data(matrix)
        for cell, value in zip(self.cells, matrix.ravel(), strict=False):
            cell.set_text(f"{value:.2g}")
            cell.set_color("white" if value > 0.5 else "black")
        self.save(path)


def _figure(title: str) -> tuple[Figure, Axes]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=SIZE_INCHES, dpi=DPI)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.set_title(title, fontsize=FONT_SIZE + 1)
    axes.tick_params(labelsize=FONT_SIZE)
    return figure, axes


def _kept(key: Hashable, make: Any) -> Any:
    """The template for `key` (made now if new); the caller holds `_lock`."""
    template = _templates.get(key)
    if template is None:
        template = _templates[key] = make()
        while len(_templates) > MAX_TEMPLATES:
            _templates.popitem(last=False)
    _templates.move_to_end(key)
    return template


def curve(
    path: str,
    x: Any,
    y: Any,
    label: str,
    *,
    title: str,
    x_label: str,
    y_label: str,
    legend_at: LegendPlace,
    steps: bool = False,
) -> None:
    """Write a curve's PNG to `path`."""
    key = ("curve", title, x_label, y_label, legend_at, steps)
    with _lock:
        template = _kept(key, lambda: _Curve(title, x_label, y_label, legend_at, steps))
        template.plot(path, x, y, label)


def matrix(path: str, values: Any, class_names: Sequence[str], *, title: str) -> None:
    """Write a square matrix's PNG (values in [0, 1]) to `path`."""
    names = tuple(class_names)
    with _lock:
        template = _kept(("matrix", title, names), lambda: _Matrix(title, names))
        template.plot(path, values)
