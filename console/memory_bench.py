"""The console's memory over many refreshes: console_rss_mb_per_h and console_live_objects_per_h.

The real app (headless) against a store whose shown rows get new values between refreshes
(store.console_fixture.live_updates: nothing added, so the data shown keeps its size), a
pane switch before each refresh and a dialog every 25. After a warm-up that draws every pane, the
console's own full collection runs every STEP refreshes and the process's RSS and the objects still
alive are read; a least-squares line through those points, scaled to an hour of refreshes at
the configured `[console] refresh_s`, is the figure, with its standard error.

Textual is imported inside the function only: engine modules never import it at module level.
"""

from __future__ import annotations

import gc
import statistics
from pathlib import Path
from typing import Any

from store.console_fixture import live_updates

STEP = 25


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")  # not Linux: no figure


def slope(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """Least-squares slope of ys on xs and its standard error."""
    n = len(xs)
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx
    resid = sum((y - my - b * (x - mx)) ** 2 for x, y in zip(xs, ys, strict=True))
    return b, ((resid / (n - 2)) / sxx) ** 0.5 if n > 2 else float("nan")


async def growth(cfg: Any, now: float, refreshes: int) -> dict[str, tuple[float, float]]:
    """Per hour of refreshes at cfg.console.refresh_s: (RSS MB, SE) and (live objects, SE)."""
    import asyncio

    from console.app import PANES, CappuccinoApp
    from console.data import ProcessLoader

    path = Path(cfg.store.path)
    loader = ProcessLoader(path, clock=lambda: now)
    app = CappuccinoApp(cfg, clock=lambda: now, autorefresh=False, loader=loader)
    xs: list[float] = []
    rss: list[float] = []
    live: list[float] = []
    try:
        async with app.run_test(size=(160, 48)) as pilot:
            for i in range(len(PANES) + refreshes):
                await pilot.press(str(i % len(PANES) + 1))
                if i % 25 == 24:
                    await pilot.press("question_mark")
                    await pilot.pause(0.05)
                    await pilot.press("escape")
                await asyncio.to_thread(live_updates, path, i)
                done = app.refreshes
                app.refresh_data()
                while app.refreshes == done:
                    await asyncio.sleep(0.005)
                await pilot.pause(0.02)
                k = i + 1 - len(PANES)  # refreshes after the warm-up (every pane drawn)
                if k >= 0 and k % STEP == 0:
                    app._full_gc()  # the app's own full collection (every GC_FULL_S)
                    gc.unfreeze()  # (objects in the frozen heap are not listed)
                    xs.append(float(k))
                    rss.append(rss_mb())
                    live.append(float(len(gc.get_objects())))
                    gc.freeze()
    finally:
        loader.close()
    per_h = 3600.0 / cfg.console.refresh_s
    (r, r_se), (o, o_se) = slope(xs, rss), slope(xs, live)
    return {"rss": (r * per_h, r_se * per_h), "objects": (o * per_h, o_se * per_h)}
