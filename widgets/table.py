"""Keep a DataTable in step with fresh rows without rebuilding it when only cells change."""

from __future__ import annotations

from collections.abc import Sequence

from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist, RowKey

from widgets.line_table import LineTable

Row = tuple[str, Sequence[object]]  # (row key, cells)


def sync_table(table: DataTable | LineTable, rows: Sequence[Row],
               details: dict[str, str] | None = None) -> None:
    """Update cells in place when the row keys are unchanged; else rebuild, keeping the cursor.

    Rebuilding costs a layout of every row; updating cells in place costs only the changes,
    which keeps each refresh well inside a frame. A LineTable redraws only changed rows.
    """
    if isinstance(table, LineTable):
        table.set_rows(rows, details)
        return
    keys = [k for k, _ in rows]
    current = [rk.value for rk in table.rows]
    if keys == current:
        columns = list(table.columns)
        for key, cells in rows:
            old = table.get_row(key)
            for col, (before, after) in enumerate(zip(old, cells, strict=False)):
                if before != after:
                    table.update_cell(key, columns[col], after)
        return
    selected = selected_key(table)
    table.clear()
    for key, cells in rows:
        table.add_row(*cells, key=key)
    if selected is not None and selected in keys:
        table.move_cursor(row=keys.index(selected), animate=False)


def selected_key(table: DataTable | LineTable) -> str | None:
    if isinstance(table, LineTable):
        return table.selected_key
    if table.row_count == 0:
        return None
    try:
        key: RowKey = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
    except CellDoesNotExist:  # cursor outside a table that just shrank
        return None
    return key.value
