"""Textual's Footer without its leak.

The Footer composes its keys again on every focus or key-binding change (each pane switch,
each dialog). Each new FooterKey data_binds the Footer's `compact`, which leaves a watcher
entry (key, setter) on the Footer; Textual drops the entries of closed widgets only when
`compact` changes, and it never does. So every key ever shown stayed alive with its styles
and render caches: about 19 keys a pane switch, ~0.5 MB a refresh (Textualize/textual#6666,
open against Textual 8.2.8). This Footer drops them after each recompose.
"""

from __future__ import annotations

from textual.dom import DOMNode
from textual.widgets import Footer as TextualFooter


def drop_closed_watchers(node: DOMNode) -> int:
    """Drop the watcher entries on `node` whose watching widget has closed (the rule Textual
    applies itself when the watched value changes); how many were dropped."""
    watchers = getattr(node, "__watchers", None) or {}  # Textual's per-object watcher lists
    dropped = 0
    for entries in watchers.values():
        kept = [(w, cb) for w, cb in entries if not getattr(w, "_closing", False)]
        dropped += len(entries) - len(kept)
        entries[:] = kept
    return dropped


class Footer(TextualFooter):
    async def recompose(self) -> None:
        await super().recompose()
        drop_closed_watchers(self)
