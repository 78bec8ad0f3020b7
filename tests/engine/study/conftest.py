"""A tiny, fast study config: synthetic candles, short features, 2 CPCV splits."""

from __future__ import annotations

from tests.engine.study.tiny import TINY

__all__ = ["TINY"]
