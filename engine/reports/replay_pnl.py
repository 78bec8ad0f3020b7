"""Does the conviction filter earn its place? Per factor, the PnL net of costs of the
decisions it blocked against those it passed (`cappuccino conviction replay`).

A decision's PnL (bar t, ticker j, trade value V = |shares| x close[t, j]) is the forward
move over `horizon` bars it took or avoided, net of a round trip's costs:
    buy   V x (close[t+h, j] / close[t, j] - 1) - 2 x cost x V
    sell  V x (1 - close[t+h, j] / close[t, j]) - 2 x cost x V
h is clipped at the window's last bar; cost is the fee plus half the spread per side (the
target broker's, engine.env.step). Positive: the decision was worth taking.

A factor's part in a decision: the score with that factor set to neutral 0.5,
s0 = s - weight x (f - 0.5). The factor blocked the decision when s < threshold <= s0 (it
pulled the score below the line) and passed it when s >= threshold > s0 (it lifted it over).
Exits released after too many blocks pass whatever the factors say and are left out. The
filter as a whole: every blocked decision against every passed one. A factor earns its place
when what it blocked lost money and what it passed made money.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np


class Decision(Protocol):
    # read-only members, so frozen dataclasses (replay's _Rec) satisfy it
    @property
    def side(self) -> str: ...

    @property
    def bar(self) -> int: ...

    @property
    def column(self) -> int: ...

    @property
    def value(self) -> float: ...

    @property
    def score(self) -> float: ...

    @property
    def threshold(self) -> float: ...

    @property
    def factors(self) -> tuple[float, float, float, float, float]: ...

    @property
    def passed(self) -> bool: ...

    @property
    def reason(self) -> str: ...


@dataclass(frozen=True)
class FactorPnl:
    blocked: int
    blocked_pnl: float   # sum over the blocked decisions, quote currency
    passed: int
    passed_pnl: float

    def to_dict(self) -> dict[str, Any]:
        return {"blocked": self.blocked, "blocked_pnl": self.blocked_pnl,
                "passed": self.passed, "passed_pnl": self.passed_pnl,
                "blocked_mean": self.blocked_pnl / self.blocked if self.blocked else None,
                "passed_mean": self.passed_pnl / self.passed if self.passed else None}


def decision_pnl(side: str, value: float, p0: float, p1: float, cost: float) -> float:
    move = p1 / p0 - 1.0 if p0 > 0 else 0.0
    return value * (move if side == "BUY" else -move) - 2.0 * cost * value


def factor_pnl(recs: Sequence[Decision], close: np.ndarray, names: Sequence[str],
               weights: Sequence[float], horizon: int, cost: float,
               last_bar: int) -> dict[str, FactorPnl]:
    """{factor: FactorPnl, ..., "filter": the whole filter} (see the module docstring)."""
    pnl = [decision_pnl(r.side, r.value, float(close[r.bar, r.column]),
                        float(close[min(r.bar + horizon, last_bar), r.column]), cost)
           for r in recs]
    out: dict[str, FactorPnl] = {}
    for k, (name, w) in enumerate(zip(names, weights, strict=True)):
        b = p = 0
        bp = pp = 0.0
        for r, x in zip(recs, pnl, strict=True):
            if r.reason == "exit released":
                continue
            neutral = r.score - w * (r.factors[k] - 0.5)
            if not r.passed and neutral >= r.threshold:
                b, bp = b + 1, bp + x
            elif r.passed and neutral < r.threshold <= r.score:
                p, pp = p + 1, pp + x
        out[name] = FactorPnl(b, bp, p, pp)
    blocked = [x for r, x in zip(recs, pnl, strict=True) if not r.passed]
    passed = [x for r, x in zip(recs, pnl, strict=True) if r.passed]
    out["filter"] = FactorPnl(len(blocked), float(sum(blocked)), len(passed), float(sum(passed)))
    return out


def render(table: dict[str, FactorPnl], horizon: int, cost: float) -> list[str]:
    lines = [f"  what each factor blocked against what it passed (PnL over the next {horizon} "
             f"bars, net of {100 * cost:.3g}% a side)",
             f"  {'factor':<12}{'blocked':>9}{'PnL':>11}{'passed':>9}{'PnL':>11}"]
    for name, f in table.items():
        lines.append(f"  {name:<12}{f.blocked:>9}{f.blocked_pnl:>11.2f}{f.passed:>9}"
                     f"{f.passed_pnl:>11.2f}")
    lines.append("  (a factor earns its place when what it blocked lost and what it passed "
                 "made money)")
    return lines
