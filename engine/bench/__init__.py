"""Benchmarks behind `cappuccino bench --json`.

Each module in BENCH_MODULES (name -> dotted module path) has
`run(quick: bool, workdir: Path) -> dict[str, Result]`. The console's bench lives with the
console (engine never imports console code; the runner loads it by name in its own process).
A Result with a baseline was measured side by side with it in the same run.
"""

from __future__ import annotations

from dataclasses import dataclass

BENCH_MODULES: dict[str, str] = {
    **{name: f"engine.bench.{name}"
       for name in ("store", "env", "ppo", "population", "backtest", "study", "trading",
                    "monitor", "gate", "soak", "books")},
    "console": "console.bench",
}


@dataclass(frozen=True)
class Result:
    value: float
    unit: str
    baseline: float | None = None
    note: str = ""

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {"value": self.value, "unit": self.unit}
        if self.baseline is not None:
            out["baseline"] = self.baseline
            out["ratio"] = self.value / self.baseline if self.baseline else None
        if self.note:
            out["note"] = self.note
        return out
