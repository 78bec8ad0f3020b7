"""Entry point for `cappuccino-console` (placeholder until the console lands)."""

from __future__ import annotations


def main() -> int:
    from console.app import CappuccinoApp

    CappuccinoApp().run()
    return 0
