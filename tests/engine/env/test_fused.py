"""The fused env step: trade_step's numbers, no host read, a ceiling on ops, compilable whole.

Host reads are counted as the aten ops `.item()`, `bool(tensor)`, `.tolist()` and boolean
indexing dispatch (on CUDA each is a synchronisation).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import pytest
import torch
from torch.profiler import ProfilerActivity, profile

from engine.config.schema import EnvSection, FeaturesSection
from engine.data.synthetic import synthetic_candles
from engine.env.accel import Stepper, resolve_mode
from engine.env.fused import fused_step
from engine.env.step import TorchOps, step_params, trade_step
from engine.env.vec_env import PortfolioVecEnv
from engine.features import compute_features, feature_spec, state_batch
from engine.population.env import PopulationVecEnv

READS = ("aten::_local_scalar_dense", "aten::item", "aten::nonzero", "aten::is_nonzero")
# aten ops per vec step of 512 envs on CPU (torch.profiler, nested calls counted): 222 before
# the fused step (torch 2.13), 173 with it (each 0/1 mask product counts its bool cast, 4 ops:
# torch.where would count 1 but runs ~6x slower on a CPU at 65k envs); the margin absorbs a
# torch upgrade's bookkeeping.
OPS_CEILING = 180

TICKERS = ("BTC-USD", "ETH-USD", "SOL-USD")


@pytest.fixture(scope="module")
def market() -> tuple[torch.Tensor, torch.Tensor, object]:
    c = synthetic_candles(TICKERS, 700, "5m", seed=4)
    spec = feature_spec(FeaturesSection(lookback=3, norm_window=30), c)
    return torch.from_numpy(c.close), torch.from_numpy(compute_features(c, spec)), spec


CONFIGS = [dict(action_mapping=m, execution_delay=d, min_order_value=mo)
           for m in ("weights", "delta") for d in (True, False) for mo in (0.0, 25.0)]


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: "-".join(map(str, c.values())))
def test_fused_step_equals_trade_step(market, cfg) -> None:  # type: ignore[no-untyped-def]
    prices, feats, spec = market
    env_cfg = EnvSection(max_trade_fraction=0.5, **cfg)
    env = PortfolioVecEnv(prices, feats, spec, env_cfg, 64, episode_len=40, seed=2,
                          step_mode="eager")
    env.reset()
    gen = torch.Generator().manual_seed(5)
    # Varied books: some all cash, some all in, some empty (equity 0), NaN and huge actions.
    env.cash[:8] = 0.0
    env.holdings[8:16] = torch.rand(8, 3, generator=gen, dtype=torch.float64) * 0.5
    env.cash[16:20] = 0.0
    prm = step_params(env_cfg, env.scale)
    for _ in range(30):
        act = torch.rand(64, 3, generator=gen) * 3 - 1.5
        act[0, 0], act[1, 1] = float("nan"), float("inf")
        if cfg["min_order_value"]:
            act = act.double()   # float64 actions are copied too, never changed in place
        t, cash, hold, ew = env.t.clone(), env.cash.clone(), env.holdings.clone(), env.ew.clone()
        given = act.clone()
        out = fused_step(prm, env.bars, cash, hold, ew, t, act)
        torch.testing.assert_close(act, given, rtol=0, atol=0, equal_nan=True)   # not mutated
        a64 = torch.nan_to_num(act.to(torch.float64).clamp(-1, 1), nan=0.0)
        p, p1 = prices[t], prices[t + 1]
        ew1 = ew * (prices[t + 1] / prices[t]).mean(dim=1)
        want = trade_step(TorchOps, prm, p, p1, cash, hold, a64, ew, ew1)
        exact = {"rtol": 0.0, "atol": 0.0}
        torch.testing.assert_close(out.cash, want.cash, **exact)
        torch.testing.assert_close(out.holdings, want.holdings, **exact)
        torch.testing.assert_close(out.equity, want.value1, **exact)
        torch.testing.assert_close(out.reward, want.reward.to(torch.float32), **exact)
        torch.testing.assert_close(out.fees, want.fees, **exact)
        torch.testing.assert_close(out.trades, want.trades, **exact)
        torch.testing.assert_close(out.ew, ew1, **exact)
        assert torch.equal(out.t, t + 1)
        state = state_batch(want.cash, want.holdings, p1, env.initial_cash)
        torch.testing.assert_close(out.obs[:, :4], state, **exact)
        torch.testing.assert_close(out.obs[:, 4:], env.obs_rows[t + 1][:, 4:], **exact)
        env.step(act)
    assert float(env.holdings.sum()) > 0   # trades happened


def _count(fn: Callable[[], object], names: tuple[str, ...] | None = None) -> int:
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        fn()
    return sum(1 for e in prof.events() if e.name.startswith("aten::")
               and (names is None or e.name in names))


def test_ops_per_step_stay_under_the_ceiling_and_no_step_reads_the_device(market) -> None:  # type: ignore[no-untyped-def]
    from engine.bench.population import env_ops_per_step

    prices, feats, spec = market
    ops = env_ops_per_step(n=512, steps=10)
    assert ops <= OPS_CEILING, f"{ops} aten ops per vec step (ceiling {OPS_CEILING})"
    env = PortfolioVecEnv(prices, feats, spec, EnvSection(), 32, episode_len=5, seed=1)
    env.reset()
    act = torch.rand(32, 3) * 2 - 1

    def steps() -> None:   # crosses two episode ends: resets too read nothing back
        for _ in range(12):
            env.step(act)
    assert _count(steps, READS) == 0
    assert env.host_steps == 2 and torch.equal(env.steps, torch.full((32,), 2))


def test_a_partial_population_reset_reads_nothing_back(market) -> None:  # type: ignore[no-untyped-def]
    prices, feats, spec = market
    seg = ((0, prices.shape[0]),)
    env = PopulationVecEnv(prices, feats, spec, EnvSection(), 4, "cpu", [6, 3, 3, 6],
                           [1, 2, 3, 4], [seg] * 4)
    env.reset()
    act = torch.zeros(16, 3)
    dones = []

    def steps() -> None:
        for _ in range(6):
            dones.append(env.step(act)[2].view(4, 4)[:, 0].tolist())
    assert _count(steps, READS) == 0
    # Members 1 and 2 (episode 3) reset together as one slice at steps 3 and 6; all at 6.
    assert dones[2] == [False, True, True, False] and dones[5] == [True] * 4
    assert not any(any(d) for i, d in enumerate(dones) if i not in (2, 5))


@pytest.mark.parametrize("n", [16, 24])   # the second size recompiles with a symbolic size
def test_the_whole_step_compiles_as_one_graph_with_the_same_numbers(market, n) -> None:  # type: ignore[no-untyped-def]
    """torch.compile(fullgraph=True) traces the step with no graph break and no data-dependent
    shape; aot_eager runs that graph on CPU (inductor's kernels need a GPU or a compiler)."""
    prices, feats, spec = market
    envs = [PortfolioVecEnv(prices, feats, spec, EnvSection(), n, episode_len=7, seed=3,
                            step_mode="eager") for _ in range(2)]
    envs[1].stepper = Stepper("compile", torch.device("cpu"), backend="aot_eager")
    obs = [e.reset() for e in envs]
    gen = torch.Generator().manual_seed(1)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)   # a fallback to eager fails the test
        for _ in range(10):   # crosses an episode end
            act = torch.rand(n, 3, generator=gen) * 2 - 1
            outs = [e.step(act) for e in envs]
            torch.testing.assert_close(outs[1][0], outs[0][0], rtol=1e-6, atol=1e-7)
            torch.testing.assert_close(outs[1][1], outs[0][1], rtol=1e-5, atol=1e-7)
            assert torch.equal(outs[1][2], outs[0][2])
    assert envs[1].stepper.mode == "compile"
    torch.testing.assert_close(obs[0], obs[1])


def test_step_modes_resolve_per_device(monkeypatch: pytest.MonkeyPatch) -> None:
    cpu = torch.device("cpu")
    monkeypatch.delenv("CAPPUCCINO_ENV_STEP", raising=False)
    assert resolve_mode("auto", cpu) == "eager"    # no triton kernels on a CPU
    assert resolve_mode("graph", cpu) == "eager"   # CPU never uses a CUDA graph
    assert resolve_mode("compile", cpu) == "compile"
    monkeypatch.setenv("CAPPUCCINO_ENV_STEP", "graph")
    assert resolve_mode("auto", cpu) == "eager"
    assert resolve_mode("eager", torch.device("cuda")) == "eager"
    monkeypatch.setenv("CAPPUCCINO_ENV_STEP", "fast")
    with pytest.raises(ValueError, match="CAPPUCCINO_ENV_STEP must be one of"):
        resolve_mode("auto", cpu)
    with pytest.raises(ValueError, match="step_mode must be one of"):
        resolve_mode("turbo", cpu)


def test_a_mode_that_cannot_build_falls_back_to_eager_with_a_warning(market) -> None:  # type: ignore[no-untyped-def]
    prices, feats, spec = market
    envs = [PortfolioVecEnv(prices, feats, spec, EnvSection(), 8, episode_len=7, seed=3,
                            step_mode="eager") for _ in range(2)]
    envs[1].stepper = Stepper("compile", torch.device("cpu"), backend="no-such-backend")
    for e in envs:
        e.reset()
    act = torch.rand(8, 3) * 2 - 1
    with pytest.warns(RuntimeWarning, match="env step: compile failed .* running eager"):
        got = envs[1].step(act)
    want = envs[0].step(act)
    assert envs[1].stepper.mode == "eager"
    torch.testing.assert_close(got[0], want[0], rtol=0, atol=0)
    torch.testing.assert_close(got[1], want[1], rtol=0, atol=0)
