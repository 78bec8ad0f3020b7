"""Update a Static only when its text changed, and without a layout where its size is fixed.

Static.update always refreshes, by default with a layout: a reflow of the whole screen and
a repaint of everything it moved, 5-15 ms on the UI thread. Most refreshes leave summary
lines as they were, and a one-line status bar never changes size.
"""

from __future__ import annotations

from weakref import WeakKeyDictionary

from textual.widgets import Static

_shown: WeakKeyDictionary[Static, str] = WeakKeyDictionary()


def set_text(widget: Static, text: str, *, layout: bool = True) -> None:
    """Show `text` (markup) in `widget`; layout=False where the widget's height is fixed."""
    if _shown.get(widget) == text:
        return
    _shown[widget] = text
    widget.update(text, layout=layout)
