"""Textual's Footer without its leak.

The Footer composes its keys again on every focus or key-binding change (each pane switch,
each dialog). Each new FooterKey data_binds the Footer's `compact`, which leaves a watcher
entry (key, setter) on the Footer; Textual drops the entries of closed widgets only when
`compact` changes, and it never does. So every key ever shown stayed alive with its styles
and render caches: about 19 keys a pane switch, ~0.5 MB a refresh (Textualize/textual#6666,
open against Textual 8.2.8). This Footer drops them after each recompose, and composes
again only when the keys it shows changed: a pane switch moves the focus but shows the same
keys, and composing them again made ~5,500 objects of cyclic garbage a switch, which the
console's frozen heap (console/app.py) keeps until its next full collection.
Textual has no public way to drop those watchers or to ask whether bindings are ready, so
this module is the one place that reads `__watchers`, `_closing` and `_bindings_ready`
(textual is pinned below 9 in pyproject.toml).
"""

from __future__ import annotations

from typing import Any

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
    _composed: tuple[Any, ...] | None = None

    def _shown(self) -> tuple[Any, ...]:
        """What compose() would show: the keys, their labels and whether each is enabled."""
        return (self.show_command_palette, self.compact, *(
            (b.key, self.app.get_key_display(b), b.description, b.action, enabled, tooltip,
             b.group)
            for _, b, enabled, tooltip in self.screen.active_bindings.values() if b.show))

    async def recompose(self) -> None:
        if self.is_attached and self._bindings_ready:
            shown = self._shown()
            if shown == self._composed:
                return  # the same keys as shown: composing them again only makes garbage
            self._composed = shown
        await super().recompose()
        drop_closed_watchers(self)
