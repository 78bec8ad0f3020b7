"""Text from outside, made safe to print on the operator's terminal.

Log lines, exchange errors, alert messages and other hosts' trial attributes reach `ps`,
`status` and `logs`; an ESC in them would be read by the terminal as an escape sequence
(set the title, write the clipboard through OSC 52, move the cursor and hide what follows).
"""

from __future__ import annotations

import re

# C0 and C1 controls but tab; a newline splits the text into lines first where it matters.
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")


def printable(line: str) -> str:
    """One line with every control character (tab kept) shown as U+FFFD."""
    return _CONTROL.sub("\ufffd", line)


def printable_lines(lines: list[str]) -> str:
    """Lines for print(): each made printable, joined by newlines."""
    return "\n".join(printable(x) for x in lines)
