"""Update a Static only when its text changed, and without a layout where its size is fixed.

Static.update always refreshes, by default with a layout: a reflow of the whole screen and
a repaint of everything it moved, 5-15 ms on the UI thread. Most refreshes leave summary
lines as they were, and a one-line status bar never changes size.

Text from outside this code (log lines, exchange errors, store rows, other hosts' trials)
never goes into markup: Textual would parse a `[/]` in it (MarkupError ends the console) or
a `[@click=app.…]` (an action on click). `set_markup` substitutes it as plain text.
"""

from __future__ import annotations

from weakref import WeakKeyDictionary

from textual.content import Content
from textual.widgets import Static

from widgets.fmt import printable

_shown: WeakKeyDictionary[Static, str] = WeakKeyDictionary()


def set_text(widget: Static, text: str, *, layout: bool = True) -> None:
    """Show `text` (markup written in this code, nothing from outside) in `widget`;
    layout=False where the widget's height is fixed."""
    if _shown.get(widget) == text:
        return
    _shown[widget] = text
    widget.update(text, layout=layout)


def plain(text: str) -> Content:
    """Text from outside as it is: no markup, no control characters."""
    return Content(printable(text))


def set_markup(widget: Static, template: str, *, layout: bool = True, **values: str) -> None:
    """Show `template` (markup written in this code, with `$name` placeholders) in `widget`,
    each value substituted as plain text (control characters replaced)."""
    clean = {k: printable(v) for k, v in values.items()}
    key = repr((template, sorted(clean.items())))
    if _shown.get(widget) == key:
        return
    _shown[widget] = key
    widget.update(Content.from_markup(template, **clean), layout=layout)
