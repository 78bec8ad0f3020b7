"""A terminal equity curve: the trader's equity against HODL and the model's own backtest.

plotext builds the chart as ANSI text in a worker thread; the UI thread only shows the
finished text, so a redraw never holds up the screen.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from rich.text import Text
from textual import events, work
from textual.widgets import Static

from widgets.inputs import PointLike

PLOTEXT_LOCK = threading.Lock()  # plotext keeps one global figure

Point = tuple[float, float, float | None, float | None]  # (at, equity, HODL, backtest)


def build_chart(title: str, points: Sequence[Point], width: int, height: int) -> str:
    """The chart as ANSI text of width x height; HODL and backtest where they were recorded."""
    import plotext as plt

    with PLOTEXT_LOCK:
        plt.clear_figure()
        plt.plotsize(max(width, 20), max(height, 5))
        plt.theme("pro")
        if not points:
            plt.title(f"{title}: no data yet")
        else:
            t0 = points[0][0]
            xs = [(p[0] - t0) / 3600.0 for p in points]
            plt.plot(xs, [p[1] for p in points], label="equity", marker="braille")
            for col, label in ((2, "HODL"), (3, "backtest")):
                known = [(x, p[col]) for x, p in zip(xs, points, strict=True)
                         if p[col] is not None]
                if known:
                    plt.plot([k[0] for k in known], [k[1] for k in known], label=label,
                             marker="braille")
            plt.title(title)
            plt.xlabel("hours")
        return str(plt.build())


class EquityChart(Static):
    DEFAULT_CSS = """
    EquityChart { height: 1fr; min-height: 6; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id)
        self._title = ""
        self._points: tuple[Point, ...] = ()
        self._drawn: tuple[object, ...] = ()

    def set_series(self, title: str, points: Sequence[PointLike]) -> None:
        self._title = title
        self._points = tuple((p.at, p.equity, p.benchmark, p.backtest) for p in points)
        self._redraw()

    def on_resize(self, event: events.Resize) -> None:
        self._redraw()

    def _redraw(self) -> None:
        w, h = self.content_size.width, self.content_size.height
        if w <= 0 or h <= 0:
            return
        key = (self._title, self._points, w, h)
        if key == self._drawn:
            return  # unchanged: skip the rebuild
        self._drawn = key
        self._build(self._title, self._points, w, h)

    @work(thread=True, exclusive=True, group="chart")
    def _build(self, title: str, points: tuple[Point, ...], w: int, h: int) -> None:
        text = Text.from_ansi(build_chart(title, points, w, h), no_wrap=True)
        self.app.call_from_thread(self._show, (title, points, w, h), text)

    def _show(self, key: tuple[object, ...], text: Text) -> None:
        if key == self._drawn:  # a newer size or series may have been asked for meanwhile
            self.update(text, layout=False)  # drawn to the chart's own size: no reflow
