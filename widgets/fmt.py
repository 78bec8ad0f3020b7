"""Small text formatters shared by the panes (pure functions, no Textual)."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

DASH = "-"
# C0 and C1 controls but tab and newline: an ESC from a log line or another host's text
# would reach the operator's terminal as an escape sequence (title, clipboard, cursor).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """`text` with every control character (tab and newline kept) shown as U+FFFD."""
    return _CONTROL.sub("\ufffd", text)


def num(value: float | None, digits: int = 2) -> str:
    return DASH if value is None else f"{value:.{digits}f}"


def pct(value: float | None, digits: int = 0) -> str:
    return DASH if value is None else f"{value * 100:.{digits}f}%"


def _decimal(value: str | float | Decimal | None) -> Decimal | str:
    """The value as a Decimal; DASH when absent, the text itself when not a number."""
    if value is None or value == "":
        return DASH
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return str(value)


def money(value: str | float | Decimal | None, digits: int = 2) -> str:
    d = _decimal(value)
    return d if isinstance(d, str) else f"{d:,.{digits}f}"


def qty(value: str | float | Decimal | None) -> str:
    """A quantity as handed over (the console puts it on the product's increment), without
    trailing zeros or thousands separators: 0.002 rather than 0.002000; never re-rounded."""
    d = _decimal(value)
    if isinstance(d, str):
        return d
    text = format(d, "f")
    text = text.rstrip("0").rstrip(".") if "." in text else text
    return "0" if text in ("", "-0") else text


def mb(value: float | None) -> str:
    if value is None:
        return DASH
    return f"{value / 1024:.1f}G" if value >= 1024 else f"{value:.0f}M"


def duration(seconds: float | None) -> str:
    if seconds is None or seconds < 0:
        return DASH
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{(s % 3600) // 60:02d}m"
    return f"{s // 86400}d{(s % 86400) // 3600:02d}h"


def bar(fraction: float | None, width: int = 20) -> str:
    """A text bar: '██████░░░░' for fraction in [0, 1]."""
    if fraction is None:
        return "░" * width
    f = min(max(fraction, 0.0), 1.0)
    full = round(f * width)
    return "█" * full + "░" * (width - full)


def clock(at: float | None) -> str:
    """HH:MM:SS UTC."""
    if at is None:
        return DASH
    import time

    return time.strftime("%H:%M:%S", time.gmtime(at))


def stamp(at: float | None) -> str:
    """YYYY-MM-DD HH:MM UTC."""
    if at is None:
        return DASH
    import time

    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(at))


def clip(text: str | None, width: int) -> str:
    if not text:
        return ""
    text = text.replace("\n", " ")
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


def matches(filter_text: str, *cells: object) -> bool:
    """The `/` filter: every word must appear in some cell (case-insensitive)."""
    if not filter_text:
        return True
    hay = " ".join("" if c is None else str(c) for c in cells).lower()
    return all(word in hay for word in filter_text.lower().split())
