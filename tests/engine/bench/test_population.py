"""The population bench's pieces run and count what they say (figures live in bench --json)."""

from __future__ import annotations

from engine.bench import BENCH_MODULES
from engine.bench.population import env_ops_per_step, population_rate, side_by_side


def test_population_bench_is_registered_and_its_measures_run() -> None:
    assert "population" in BENCH_MODULES
    assert population_rate("cpu", 2, 16, 1) > 0
    r = side_by_side("cpu", 2, 16, 1)
    assert min(r.population, r.population_cpu, r.serial, r.serial_cpu) > 0
    assert len(r.rounds) == len(r.rounds_cpu) == 1 and min(r.rounds + r.rounds_cpu) > 0


def test_side_by_side_gives_each_rounds_speedup_by_wall_and_by_cpu_time() -> None:
    """One speedup per measured round, both ways; their means bracket the totals' ratios
    (a round's ratio of sums, so the mean of rounds need not equal it, but not far off)."""
    r = side_by_side("cpu", 2, 16, 3)
    assert len(r.rounds) == len(r.rounds_cpu) == 3
    cpu_total = r.population_cpu / r.serial_cpu
    assert min(r.rounds_cpu) <= cpu_total * 1.0001 and max(r.rounds_cpu) >= cpu_total / 1.0001
    ops = env_ops_per_step(n=32, steps=3)
    assert 10 < ops < 1000 and ops == int(ops * 3) / 3
