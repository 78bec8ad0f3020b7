"""The Textual app (placeholder until the console lands)."""

from __future__ import annotations

from textual.app import App


class CappuccinoApp(App[None]):
    TITLE = "Cappuccino"
