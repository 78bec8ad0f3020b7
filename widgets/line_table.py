"""A light, keyboard-driven table of text rows that redraws only the rows that changed.

Textual's DataTable keys every render cache on one update counter, so any change (a row
added on top, one cell updated) re-renders every visible cell: 25-40 ms on the UI thread
for a 160x48 pane. Here each line is cached by its row's key and content, so a refresh that
adds a row on top builds one new line and reuses the rest. For the tables that gain rows
all the time (attempts, blocked decisions, alert history); cells are plain text.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from widgets.fmt import printable

Row = tuple[str, Sequence[object]]  # (row key, cells)
GAP = 2  # spaces between columns
CACHE_MAX = 4000


class LineTable(ScrollView, can_focus=True):
    DEFAULT_CSS = """
    LineTable {
        background: $surface;
        color: $foreground;
        height: auto;
        max-height: 100%;
        &:focus {
            background-tint: $foreground 5%;
            & > .line-table--cursor {
                background: $block-cursor-background;
                color: $block-cursor-foreground;
                text-style: $block-cursor-text-style;
            }
        }
        & > .line-table--header { text-style: bold; background: $panel; color: $foreground; }
        & > .line-table--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
    }
    """
    COMPONENT_CLASSES = {"line-table--header", "line-table--cursor"}
    BINDINGS = [
        Binding("up", "cursor(-1)", "Up", show=False),
        Binding("down", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "cursor_to(0)", "First", show=False),
        Binding("end", "cursor_to(-1)", "Last", show=False),
        Binding("enter", "detail", "Detail", show=False),
    ]

    class RowHighlighted(Message):
        def __init__(self, table: LineTable, key: str | None) -> None:
            super().__init__()
            self.table, self.key = table, key

        @property
        def control(self) -> LineTable:
            return self.table

    class DetailRequested(Message):
        """enter on a row: show it in full (cells are cut to fit; details are not)."""

        def __init__(self, table: LineTable, key: str, title: str, text: str) -> None:
            super().__init__()
            self.table, self.key, self.title, self.text = table, key, title, text

        @property
        def control(self) -> LineTable:
            return self.table

    def __init__(self, *columns: str, id: str | None = None) -> None:
        super().__init__(id=id)
        self.columns = tuple(columns)
        self._keys: list[str] = []
        self._cells: list[tuple[str, ...]] = []
        self._index: dict[str, int] = {}
        self._widths = tuple(cell_len(c) for c in self.columns)
        self._cursor = 0
        self._cache: dict[tuple[object, ...], Strip] = {}
        self._styles: tuple[Style, Style, Style] | None = None
        self._stale = False
        self._details: dict[str, str] = {}

    def on_mount(self) -> None:
        self.virtual_size = Size(sum(self._widths) + GAP * len(self._widths), 1)

    # -- data ---------------------------------------------------------------------------
    def set_columns(self, columns: Sequence[str]) -> None:
        """Change the header (the caller then sets rows with the matching cells)."""
        columns = tuple(columns)
        if columns == self.columns:
            return
        self.columns = columns
        self._stale = True  # the next set_rows lays every row out again
        self._cache.clear()
        self.refresh()

    def set_rows(self, rows: Sequence[Row], details: dict[str, str] | None = None) -> None:
        """Show these rows; the cursor stays on the same row key where it still exists.

        `details`: the full text of a row by key, shown by enter (long cells are cut)."""
        self._details = details or {}
        selected = self.selected_key
        keys = [k for k, _ in rows]
        cells = [tuple("" if c is None else str(c) for c in cs) for _, cs in rows]
        if keys == self._keys and cells == self._cells and not self._stale:
            return
        self._keys, self._cells, self._stale = keys, cells, False
        self._index = {k: i for i, k in enumerate(keys)}
        widths = [cell_len(c) for c in self.columns]
        for row in cells:
            for i, c in enumerate(row[: len(widths)]):
                n = cell_len(c)
                if n > widths[i]:
                    widths[i] = n
        self._widths = tuple(widths)
        self._set_virtual_size(Size(sum(widths) + GAP * len(widths), len(keys) + 1))
        # Lines of rows that are gone or changed are never drawn again: drop them now, or the
        # cache holds every version of every row until CACHE_MAX (tens of MB a table).
        shown = {*zip(keys, cells, strict=True), ("\0header", self.columns)}
        self._cache = {k: v for k, v in self._cache.items()
                       if k[2] == self._widths and (k[0], k[1]) in shown}
        if len(self._cache) > CACHE_MAX:
            self._cache.clear()
        at = self._index.get(selected, self._cursor) if selected is not None else self._cursor
        self._set_cursor(min(at, max(len(keys) - 1, 0)), notify=selected not in self._index)
        self.refresh()

    def _set_virtual_size(self, size: Size) -> None:
        """Set the virtual size; skip the layout (a reflow of the whole screen) when the
        table's own size and scrollbars cannot change: it overflowed its height before and
        still does, and its width stays on the same side of the visible width."""
        old, shown = self.virtual_size, self.size
        if (size != old and self.is_mounted and shown.height > 0
                and old.height > shown.height and size.height > shown.height
                and (old.width > shown.width) == (size.width > shown.width)):
            self.set_reactive(LineTable.virtual_size, size)
            if self.show_vertical_scrollbar:
                self.vertical_scrollbar.window_virtual_size = size.height
            if self.show_horizontal_scrollbar:
                self.horizontal_scrollbar.window_virtual_size = size.width
            self.refresh()
            return
        self.virtual_size = size

    @property
    def row_count(self) -> int:
        return len(self._keys)

    @property
    def row_keys(self) -> list[str]:
        return list(self._keys)

    def get_row(self, key: str) -> list[str]:
        return list(self._cells[self._index[key]])

    def get_row_at(self, index: int) -> list[str]:
        return list(self._cells[index])

    @property
    def cursor_row(self) -> int:
        return self._cursor

    @property
    def selected_key(self) -> str | None:
        return self._keys[self._cursor] if 0 <= self._cursor < len(self._keys) else None

    def select_key(self, key: str) -> bool:
        """Put the cursor on the row with this key (False when it is not shown)."""
        if key not in self._index:
            return False
        self._set_cursor(self._index[key])
        return True

    def detail_text(self, key: str) -> str:
        text = self._details.get(key)
        if text is not None:
            return text
        cells = self.get_row(key)
        return "\n".join(f"{c}: {v}" for c, v in zip(self.columns, cells, strict=False))

    def action_detail(self) -> None:
        key = self.selected_key
        if key is not None:
            self.post_message(self.DetailRequested(self, key, key, self.detail_text(key)))

    # -- cursor -------------------------------------------------------------------------
    def move_cursor(self, *, row: int, animate: bool = False) -> None:
        self._set_cursor(row)

    def _set_cursor(self, row: int, notify: bool = True) -> None:
        row = max(0, min(row, len(self._keys) - 1)) if self._keys else 0
        changed = row != self._cursor
        self._cursor = row
        if self._keys and self.is_mounted:
            # Keep the cursor row in view, below the fixed header line.
            top, shown = self.scroll_offset.y, max(1, self.size.height - 1)
            if row < top:
                self.scroll_to(y=row, animate=False, force=True, immediate=True)
            elif row >= top + shown:
                self.scroll_to(y=row - shown + 1, animate=False, force=True, immediate=True)
        if changed or notify:
            self.refresh()
            self.post_message(self.RowHighlighted(self, self.selected_key))

    def action_cursor(self, step: int) -> None:
        self._set_cursor(self._cursor + step)

    def action_page(self, direction: int) -> None:
        self._set_cursor(self._cursor + direction * max(1, self.size.height - 2))

    def action_cursor_to(self, row: int) -> None:
        self._set_cursor(row if row >= 0 else len(self._keys) - 1)

    def on_focus(self, event: events.Focus) -> None:
        self.refresh()  # the cursor's style differs with focus

    def on_blur(self, event: events.Blur) -> None:
        self.refresh()

    def on_click(self, event: events.Click) -> None:
        if event.y >= 1:
            self._set_cursor(event.y - 1 + self.scroll_offset.y)

    # -- render -------------------------------------------------------------------------
    def _line(self, key: object, cells: tuple[str, ...], style: Style) -> Strip:
        cache_key = (key, cells, self._widths, style)
        strip = self._cache.get(cache_key)
        if strip is None:
            # Cells are store rows and log lines: no control character reaches the terminal.
            text = (" " * GAP).join(set_cell_size(printable(c), w) for c, w in
                                    zip(cells, self._widths, strict=False))
            strip = Strip([Segment(" " + text + " " * GAP, style)])
            self._cache[cache_key] = strip
        return strip

    def render_lines(self, crop: Region) -> list[Strip]:
        # Styles walk the DOM: resolve them once per paint, not once per line.
        base = self.rich_style
        self._styles = (base, base + self.get_component_rich_style("line-table--header"),
                        base + self.get_component_rich_style("line-table--cursor"))
        return super().render_lines(crop)

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        scroll_x, scroll_y = self.scroll_offset
        base, header, cursor = self._styles or (self.rich_style,) * 3
        if y == 0:
            style = header
            strip = self._line("\0header", self.columns, style)
        else:
            i = y - 1 + scroll_y
            if i >= len(self._keys):
                return Strip.blank(width, base)
            style = cursor if i == self._cursor else base
            strip = self._line(self._keys[i], self._cells[i], style)
        return strip.crop_extend(scroll_x, scroll_x + width, style)
