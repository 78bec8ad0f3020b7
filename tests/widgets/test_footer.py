"""widgets.footer.Footer: composing its keys again (each focus or binding change) leaves none
of the old keys alive (Textual's own Footer keeps every one, Textualize/textual#6666)."""

from __future__ import annotations

import gc

import pytest
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import Footer as TextualFooter
from textual.widgets import Input
from textual.widgets._footer import FooterKey

from widgets.footer import Footer


class Two(App[None]):
    BINDINGS = [Binding("ctrl+a", "noop", "a"), Binding("ctrl+b", "noop", "b")]

    def __init__(self, footer: type[TextualFooter]) -> None:
        super().__init__()
        self.footer = footer

    def compose(self) -> ComposeResult:
        yield Input(id="one")
        yield Input(id="two")
        yield self.footer(compact=True)


async def keys_alive_after(footer: type[TextualFooter], switches: int) -> tuple[int, int]:
    app = Two(footer)
    async with app.run_test() as pilot:
        for i in range(switches):
            app.query_one("#one" if i % 2 else "#two", Input).focus()
            await pilot.pause(0.02)
        await pilot.pause(0.2)
        gc.collect()
        alive = sum(1 for o in gc.get_objects() if isinstance(o, FooterKey))
        return alive, len(app.query(FooterKey))


async def test_old_keys_are_released() -> None:
    leaked, shown = await keys_alive_after(TextualFooter, 40)
    if leaked <= 2 * shown:
        pytest.skip("Textual's own Footer no longer leaks its keys: widgets/footer.py can go")
    alive, shown = await keys_alive_after(Footer, 40)
    assert shown > 0 and alive <= 2 * shown, (alive, shown, leaked)
