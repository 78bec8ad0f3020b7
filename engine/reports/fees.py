"""Coinbase Advanced Trade fee tiers by trailing 30-day volume (USD).

The published spot schedule at the time of writing; the live tier always comes from the
exchange (transaction summary). This table only says how far the next tier is.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Tier:
    min_volume: float
    maker: float
    taker: float


TIERS = (
    Tier(0, 0.0040, 0.0060),
    Tier(10_000, 0.0025, 0.0040),
    Tier(50_000, 0.0015, 0.0025),
    Tier(100_000, 0.0010, 0.0020),
    Tier(1_000_000, 0.0008, 0.0018),
    Tier(15_000_000, 0.0006, 0.0016),
    Tier(75_000_000, 0.0003, 0.0012),
    Tier(250_000_000, 0.0, 0.0008),
)


@dataclass(frozen=True)
class TierProgress:
    volume_30d: float
    current: Tier
    next: Tier | None

    @property
    def remaining(self) -> float:
        return 0.0 if self.next is None else self.next.min_volume - self.volume_30d

    @property
    def fraction(self) -> float:
        if self.next is None:
            return 1.0
        span = self.next.min_volume - self.current.min_volume
        return (self.volume_30d - self.current.min_volume) / span


def tier_progress(volume_30d: float) -> TierProgress:
    current = TIERS[0]
    nxt: Tier | None = None
    for i, tier in enumerate(TIERS):
        if volume_30d >= tier.min_volume:
            current = tier
            nxt = TIERS[i + 1] if i + 1 < len(TIERS) else None
    return TierProgress(volume_30d, current, nxt)
