"""A terminal chart from plain data: lines over a numeric axis, or bars over labels.

Like the equity chart, plotext builds the chart as ANSI text in a worker thread and the UI
thread only shows the finished text, so a redraw never holds up the screen.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import events, work
from textual.widgets import Static

from widgets.equity_chart import PLOTEXT_LOCK


@dataclass(frozen=True)
class Line:
    label: str
    xs: tuple[float, ...]
    ys: tuple[float, ...]


@dataclass(frozen=True)
class ChartSpec:
    title: str
    lines: tuple[Line, ...] = ()
    bars: tuple[tuple[str, float], ...] = ()  # (label, value), drawn when there are no lines
    xlabel: str = ""
    bar_label: str = ""


def build_plot(spec: ChartSpec, width: int, height: int) -> str:
    """The chart as ANSI text of width x height."""
    import plotext as plt

    with PLOTEXT_LOCK:
        plt.clear_figure()
        plt.plotsize(max(width, 20), max(height, 5))
        plt.theme("pro")
        lines = [ln for ln in spec.lines if ln.xs]
        if lines:
            for ln in lines:
                plt.plot(list(ln.xs), list(ln.ys), label=ln.label, marker="braille")
            if spec.xlabel:
                plt.xlabel(spec.xlabel)
            plt.title(spec.title)
        elif spec.bars:
            plt.bar([b[0] for b in spec.bars], [b[1] for b in spec.bars],
                    label=spec.bar_label or None)
            plt.title(spec.title)
        else:
            plt.title(f"{spec.title}: no data in this period")
        return str(plt.build())


class PlotChart(Static):
    DEFAULT_CSS = """
    PlotChart { height: 14; min-height: 6; }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__("", id=id, classes=classes)
        self._spec: ChartSpec | None = None
        self._drawn: tuple[object, ...] = ()

    @property
    def spec(self) -> ChartSpec | None:
        return self._spec

    def set_spec(self, spec: ChartSpec) -> None:
        self._spec = spec
        self._redraw()

    def on_resize(self, event: events.Resize) -> None:
        self._redraw()

    def _redraw(self) -> None:
        w, h = self.content_size.width, self.content_size.height
        if self._spec is None or w <= 0 or h <= 0:
            return
        key = (self._spec, w, h)
        if key == self._drawn:
            return  # unchanged: skip the rebuild
        self._drawn = key
        self._build(self._spec, w, h)

    @work(thread=True, exclusive=True, group="plot")
    def _build(self, spec: ChartSpec, w: int, h: int) -> None:
        text = Text.from_ansi(build_plot(spec, w, h), no_wrap=True)
        self.app.call_from_thread(self._show, (spec, w, h), text)

    def _show(self, key: tuple[object, ...], text: Text) -> None:
        if key == self._drawn:  # a newer size or spec may have been asked for meanwhile
            self.update(text)
