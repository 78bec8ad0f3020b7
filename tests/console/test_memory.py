"""The console's memory over many refreshes: what stays alive after a full collection must not
grow with the number of refreshes, pane switches and dialogs. Every pane switch used to leave
the footer's old keys alive for good (Textual's data_bind watchers, widgets/footer.py): ~19
widgets with their styles and render caches a switch, 81 -> 360 MB in a 20-minute soak; and
every dialog left its widgets' rendered lines in a Textual cache (widgets/styles_cache.py)."""

from __future__ import annotations

import collections
import gc
from typing import Any

from textual._styles_cache import StylesCache
from textual.dom import DOMNode
from textual.widgets._footer import FooterKey

from console.app import PANES, CappuccinoApp

ROUNDS = 48


def live_nodes(app: CappuccinoApp) -> collections.Counter[str]:
    """Widgets (DOM nodes) and their render caches alive after the console's own full
    collection (which unfreezes the heap it freezes after each refresh), by class."""
    app._full_gc()
    gc.unfreeze()
    return collections.Counter(type(o).__qualname__ for o in gc.get_objects()
                               if isinstance(o, DOMNode | StylesCache))


async def refresh(app: CappuccinoApp, pilot: Any) -> None:
    n = app.refreshes
    app.refresh_data()
    while app.refreshes == n:
        await pilot.pause(0.02)


async def test_refreshes_switches_and_dialogs_leave_no_widget_behind(env: Any) -> None:
    app = env.app()
    async with app.run_test(size=(160, 48)) as pilot:
        await app.workers.wait_for_complete()
        for i in range(len(PANES)):  # every pane drawn once, each dialog opened once
            await pilot.press(str(i + 1))
            await refresh(app, pilot)
        for key in ("question_mark", "l"):
            await pilot.press(key)
            await pilot.pause(0.2)
            await pilot.press("escape")
        await pilot.pause(0.2)
        before = live_nodes(app)
        for i in range(ROUNDS):
            await pilot.press(str(i % len(PANES) + 1))
            if i % 8 == 0:
                await pilot.press("question_mark" if i % 16 else "l")
                await pilot.pause(0.1)
                await pilot.press("escape")
            await refresh(app, pilot)
        await pilot.pause(0.2)
        after = live_nodes(app)
        shown = len(app.screen.query(FooterKey))
        assert 0 < shown <= after["FooterKey"] <= 2 * shown, (shown, after["FooterKey"])
        grown = after.copy()
        grown.subtract(before)
        # A node or two in flight (a toast, a key being composed) is not a leak; ROUNDS
        # switches leaked ~19 keys each before.
        assert sum(grown.values()) <= 2 * shown, [(k, v) for k, v in grown.items() if v]
