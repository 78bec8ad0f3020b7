"""Quitting while background refreshes land: the console closes cleanly every time. A
refresh that finished as the app was closing used to raise NoMatches '#health' from
apply_snapshot (a traceback on quit, exit status 1)."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from console.app import CappuccinoApp

ROUNDS = 30


def keep_refreshing(app: CappuccinoApp, stop: threading.Event, errors: list[BaseException]) -> None:
    """From another thread, again and again: ask for a refresh, as the refresh timer does (the
    real worker loads the store and hands its snapshot to the UI thread), and hand over a
    snapshot the way that worker does, so that one lands in every moment of the shutdown."""
    snap = app.loader.load(None, ())
    while not stop.is_set():
        try:
            app.call_from_thread(app.refresh_data)
            app.call_from_thread(app.apply_snapshot, snap)
        except RuntimeError as e:
            if "not running" not in str(e):  # (Textual's own word once the app has gone)
                errors.append(e)
            return
        except BaseException as e:  # noqa: BLE001 - the test reports what went wrong
            errors.append(e)
            return


async def test_quit_while_refreshes_land_never_raises(env: Any) -> None:
    for i in range(ROUNDS):
        app = env.app()
        stop = threading.Event()
        errors: list[BaseException] = []
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause(0.05)
            flood = threading.Thread(target=keep_refreshing, args=(app, stop, errors))
            flood.start()
            await asyncio.sleep(0.003 * (i % 7))
            app.simulate_key("q")  # the operator's quit key (the pilot would wait for an
            deadline = time.monotonic() + 30  # idle moment, which a flood never leaves)
            while app.is_running and time.monotonic() < deadline:
                await asyncio.sleep(0.005)
            assert not app.is_running, f"round {i}: q did not quit"
        stop.set()
        await asyncio.to_thread(flood.join, 30)
        assert not flood.is_alive(), f"round {i}: the refresh thread hung"
        assert not errors, f"round {i}: {errors!r}"
        assert app.return_code == 0, (f"round {i}: exit status {app.return_code} "
                                      f"({getattr(app, '_exception', None)!r})")
