"""Release the rendered lines Textual keeps of widgets that are gone.

Textual's `StylesCache.get_inner_outer` is an `lru_cache(1024)` on an instance method (its
first parameter is named `cls`, but it is no classmethod), so its keys hold up to 1,024
StylesCache objects, each with the rendered lines of its widget, long after the widget went:
every dialog opened and every row widget replaced adds some (about 3,700 objects a dialog;
Textual 8.2.8). Clearing it costs two Style objects a widget at its next paint. Textual has
no public way to release it, so this module is the one place that imports its private
`textual._styles_cache` (textual is pinned below 9 in pyproject.toml).
"""

from __future__ import annotations


def release_styles_caches() -> None:
    from textual._styles_cache import StylesCache

    clear = getattr(getattr(StylesCache, "get_inner_outer", None), "cache_clear", None)
    if clear is not None:  # (a Textual without the cache: nothing to release)
        clear()
