"""LineTable: rows by key, a cursor that follows its row, and lines reused across refreshes."""

from __future__ import annotations

from textual.app import App, ComposeResult

from widgets.line_table import LineTable
from widgets.table import selected_key, sync_table


class LineApp(App[None]):
    def __init__(self) -> None:
        super().__init__()
        self.highlighted: list[str | None] = []

    def compose(self) -> ComposeResult:
        yield LineTable("id", "state", id="t")

    def on_line_table_row_highlighted(self, event: LineTable.RowHighlighted) -> None:
        self.highlighted.append(event.key)


def _rows(ids: range) -> list[tuple[str, tuple[str, str]]]:
    return [(str(i), (str(i), "RUNNING" if i % 2 else "COMPLETE")) for i in ids]


async def test_cursor_follows_its_row_when_new_rows_arrive_on_top() -> None:
    app = LineApp()
    async with app.run_test(size=(40, 8)) as pilot:
        t = app.query_one(LineTable)
        sync_table(t, _rows(range(9, -1, -1)))
        t.focus()
        await pilot.press("down", "down")
        await pilot.pause()
        assert selected_key(t) == "7" and app.highlighted[-1] == "7"
        sync_table(t, _rows(range(11, 1, -1)))  # two new rows on top, two gone below
        await pilot.pause()
        assert selected_key(t) == "7" and t.cursor_row == 4
        assert t.get_row("11") == ["11", "RUNNING"] and t.get_row_at(0) == ["11", "RUNNING"]
        await pilot.press("end")
        await pilot.pause()
        assert selected_key(t) == "2" and t.scroll_offset.y > 0  # scrolled to keep it shown
        await pilot.press("home")
        await pilot.pause()
        assert selected_key(t) == "11" and t.scroll_offset.y == 0
        sync_table(t, [])
        assert t.row_count == 0 and selected_key(t) is None


async def test_unchanged_rows_reuse_their_rendered_line() -> None:
    app = LineApp()
    async with app.run_test(size=(40, 12)) as pilot:
        t = app.query_one(LineTable)
        sync_table(t, _rows(range(5, 0, -1)))
        await pilot.pause()
        before = t.render_line(3)  # header is line 0: this is row "3"
        assert "3" in before.text and "RUNNING" in before.text
        sync_table(t, _rows(range(6, 0, -1)))  # a new row on top shifts row "3" down one line
        await pilot.pause()
        assert t.render_line(4) is before
        assert "6" in t.render_line(1).text and "state" in t.render_line(0).text


async def test_a_table_that_keeps_overflowing_still_scrolls_to_its_new_last_row() -> None:
    # Growing past a height it already overflowed skips the layout: scrolling must still
    # reach (and show) the rows added since.
    app = LineApp()
    async with app.run_test(size=(40, 8)) as pilot:
        t = app.query_one(LineTable)
        sync_table(t, _rows(range(20)))
        await pilot.pause()
        sync_table(t, _rows(range(30)))
        await pilot.pause()
        assert t.virtual_size.height == 31
        t.focus()
        await pilot.press("end")
        await pilot.pause()
        assert selected_key(t) == "29"
        assert t.scroll_offset.y == t.max_scroll_y > 0
        shown = "".join(s.text for s in t.render_lines(t.region.reset_offset))
        assert "29" in shown


async def test_lines_of_changed_rows_are_not_kept() -> None:
    """A row whose cells change every refresh (an equity, an age) makes a new line each time;
    the old ones are dropped with the data, not kept until the cache's cap (4,000 lines a
    table: tens of MB over the console's tables)."""
    app = LineApp()
    async with app.run_test(size=(40, 12)) as pilot:
        t = app.query_one(LineTable)
        for n in range(300):
            sync_table(t, [(str(i), (str(i), f"{n}.{i}")) for i in range(8)])
            await pilot.pause()
            for y in range(10):
                t.render_line(y)
        assert 9 <= len(t._cache) <= 3 * 9, len(t._cache)  # the shown rows and header, a style each
        sync_table(t, [(str(i), (str(i), f"299.{i}")) for i in range(8)])  # the same again
        await pilot.pause()
        assert t.render_line(1) is t.render_line(1)
