"""Redaction for notifications: every secret value and every long fragment of the apprise URLs.

An apprise URL such as discord://webhook_id/webhook_token is a secret as a whole, and its
token may also show up alone (in an error message), so its fragments are redacted as well.
"""

from __future__ import annotations

import re

from engine.config.secrets import Secrets

MIN_FRAGMENT = 6  # shorter URL pieces (schemes, "hook") are not secrets and stay readable


class Redactor:
    def __init__(self, secrets: Secrets) -> None:
        values = {v for v in secrets.values() if len(v) >= 4}
        for url in secrets.apprise_list:
            rest = url.split("://", 1)[-1]
            values.update(p for p in re.split(r"[/?&=@:#,]", rest) if len(p) >= MIN_FRAGMENT)
        self._values = sorted(values, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for v in self._values:
            text = text.replace(v, "***")
        return text
