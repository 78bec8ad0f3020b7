"""widgets.styles_cache: the rendered lines of a closed dialog's widgets are not kept."""

from __future__ import annotations

import gc

import pytest
from textual._styles_cache import StylesCache
from textual.app import App, ComposeResult
from textual.dom import DOMNode
from textual.screen import ModalScreen
from textual.widgets import Static

from widgets.styles_cache import release_styles_caches


class Dialog(ModalScreen[None]):
    def compose(self) -> ComposeResult:
        for i in range(10):
            yield Static(f"line {i}")


async def caches_of_gone_widgets(release: bool) -> int:
    app: App[None] = App()
    async with app.run_test() as pilot:
        for _ in range(12):
            await app.push_screen(Dialog())
            await pilot.pause(0.05)
            app.pop_screen()
            await pilot.pause(0.05)
        if release:
            release_styles_caches()
        gc.collect()
        caches = sum(1 for o in gc.get_objects() if isinstance(o, StylesCache))
        nodes = sum(1 for o in gc.get_objects() if isinstance(o, DOMNode))
        return caches - nodes


async def test_a_closed_dialogs_lines_are_released() -> None:
    kept = await caches_of_gone_widgets(release=False)
    if kept <= 0:
        pytest.skip("Textual no longer keeps them: widgets/styles_cache.py can go")
    assert await caches_of_gone_widgets(release=True) <= 0, kept
