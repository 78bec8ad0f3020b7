"""Handing a worker thread's result to the UI thread, safe while the app is closing.

A refresh (or a report, a log tail, a gate check) can finish just as the operator quits:
Textual's `call_from_thread` then raises RuntimeError once the app's loop is gone, and a
callback that runs during shutdown (`is_running` is False from its first step) finds its
widgets already removed (NoMatches). Either way the result is simply no longer wanted.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.app import App


def deliver(app: App[Any], fn: Callable[..., object], *args: Any, **kwargs: Any) -> None:
    """Run fn(*args, **kwargs) on the UI thread, unless the app is closing or closed."""
    if not app.is_running:
        return

    def apply() -> None:
        if app.is_running:  # checked again on the UI thread: shutdown may have begun since
            fn(*args, **kwargs)

    try:
        app.call_from_thread(apply)
    except RuntimeError:
        if app.is_running:
            raise  # not the closing race: a real error
