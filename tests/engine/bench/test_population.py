"""The population bench's pieces run and count what they say (figures live in bench --json)."""

from __future__ import annotations

from engine.bench import BENCH_MODULES
from engine.bench.population import env_ops_per_step, population_rate, side_by_side


def test_population_bench_is_registered_and_its_measures_run() -> None:
    assert "population" in BENCH_MODULES
    assert population_rate("cpu", 2, 16, 1) > 0
    r = side_by_side("cpu", 2, 16, 1)
    assert min(r.population, r.population_cpu, r.serial, r.serial_cpu) > 0
    ops = env_ops_per_step(n=32, steps=3)
    assert 10 < ops < 1000 and ops == int(ops * 3) / 3
