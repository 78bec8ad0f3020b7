"""The target-weight action mapping, its no-trade band, the execution delay and the costs,
checked by hand on tiny inputs (the delta mapping's by-hand checks are in test_vec_env.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.config import Config
from engine.config.schema import EnvSection, GatesSection, TraderSection
from engine.env.step import (
    CASH_MARGIN,
    LEGACY_ENV,
    NumpyOps,
    TorchOps,
    step_params,
    trade_step,
)

FEE = 0.01


def prm(**env: object):  # type: ignore[no-untyped-def]
    cfg = EnvSection(**{"fee_rate": FEE, "spread_bps": 0.0, "execution_delay": False,
                        "min_order_value": 1.0, **env})
    return step_params(cfg)


def step(p, p1, cash, holdings, act, **env):  # type: ignore[no-untyped-def]
    return trade_step(NumpyOps, prm(**env), np.asarray(p, float), np.asarray(p1, float),
                      np.float64(cash), np.asarray(holdings, float), np.asarray(act, float),
                      np.float64(0), np.float64(0))


def test_action_zero_is_equal_weight_bought_from_cash() -> None:
    out = step([100, 50], [100, 50], 1000.0, [0, 0], [0.0, 0.0])
    each = 500 * (1 - CASH_MARGIN) / (1 + FEE)   # both buys scaled by one factor to the cash
    np.testing.assert_allclose(out.holdings, [each / 100, each / 50], rtol=1e-12)
    assert float(out.cash) == pytest.approx(1000 * CASH_MARGIN) and int(out.trades) == 2


def test_inside_the_band_nothing_trades_outside_it_goes_to_target() -> None:
    held = [5.0, 10.0]               # 500 + 500: weights 0.5 / 0.5 of 1000
    # Targets 0.6 / 0.4: 0.1 from the weights, inside the band 0.5 / 2 = 0.25.
    quiet = step([100, 50], [100, 50], 0.0, held, [0.2, -0.2])
    assert int(quiet.trades) == 0 and float(quiet.fees) == 0.0
    # Targets 1 / 0: sell all of asset 1 (500, fee 5); the buy waits for those proceeds
    # (a live trader's buys go out before its sells fill), then buys with the 495.
    out = step([100, 50], [100, 50], 0.0, held, [1.0, -1.0])
    assert float(out.holdings[1]) == 0.0 and float(out.holdings[0]) == 5.0
    assert float(out.cash) == pytest.approx(495.0)
    nxt = step([100, 50], [100, 50], float(out.cash), out.holdings, [1.0, -1.0])
    assert float(nxt.holdings[0]) == pytest.approx(5 + 495 * (1 - CASH_MARGIN) / 1.01 / 100,
                                                   rel=1e-12)
    # Band 0: the same quiet action trades (the sell now, the buy with its proceeds later).
    zero_band = step([100, 50], [100, 50], 0.0, held, [0.2, -0.2], no_trade_band=0.0)
    assert int(zero_band.trades) == 1 and float(zero_band.holdings[1]) == pytest.approx(8.0)


def test_weights_above_one_are_scaled_to_fully_invested() -> None:
    out = step([100, 50], [100, 50], 1000.0, [0, 0], [1.0, 1.0])  # (1, 1) -> (0.5, 0.5)
    np.testing.assert_allclose(out.holdings * [100, 50], [500 * (1 - CASH_MARGIN) / 1.01] * 2,
                               rtol=1e-12)


def test_execution_delay_fills_at_the_next_bar_and_counts_the_move() -> None:
    p, p1 = [100.0, 50.0], [200.0, 50.0]
    now = step(p, p1, 1000.0, [0, 0], [0.0, 0.0])
    late = step(p, p1, 1000.0, [0, 0], [0.0, 0.0], execution_delay=True)
    each = 500 * (1 - CASH_MARGIN) / 1.01
    assert float(now.value1) == pytest.approx(each / 100 * 200 + each + 1000 * CASH_MARGIN,
                                              rel=1e-12)  # rode the move
    np.testing.assert_allclose(late.holdings, [each / 200, each / 50], rtol=1e-12)
    assert float(late.value0) == 1000.0
    assert float(late.value1) == pytest.approx(2 * each + 1000 * CASH_MARGIN)
    # Held shares ride the move before the delayed fill: 5 of asset 0 double, then sold.
    held = step(p, p1, 0.0, [5.0, 0.0], [-1.0, -1.0], execution_delay=True, no_trade_band=0.0)
    assert float(held.cash) == pytest.approx(1000 * (1 - FEE), rel=1e-12)


def test_torch_and_numpy_agree_on_weights_with_delay() -> None:
    rng = np.random.default_rng(3)
    p, p1 = rng.uniform(10, 100, (6, 3)), rng.uniform(10, 100, (6, 3))
    cash, hold = rng.uniform(0, 1000, 6), rng.uniform(0, 10, (6, 3))
    act = rng.uniform(-1, 1, (6, 3))
    pr = prm(execution_delay=True, no_trade_band=0.3)
    zero = np.zeros(6)
    a = trade_step(NumpyOps, pr, p, p1, cash, hold, act, zero, zero)
    t = [torch.from_numpy(x) for x in (p, p1, cash, hold, act, zero, zero)]
    b = trade_step(TorchOps, pr, *t)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_allclose(x, y.numpy(), rtol=1e-12, atol=1e-9)


def test_keep_mask_drops_an_order() -> None:
    pr = prm()
    out = trade_step(NumpyOps, pr, np.array([100.0, 50.0]), np.array([100.0, 50.0]),
                     np.float64(1000), np.zeros(2), np.zeros(2), np.float64(0), np.float64(0),
                     np.array([1.0, 0.0]))
    assert float(out.holdings[1]) == 0.0 and float(out.holdings[0]) > 0


def test_costs_come_from_the_target_broker() -> None:
    cfg = Config()
    assert cfg.env.fee_rate == cfg.trader.sim_taker_fee_rate == 0.006
    assert cfg.env.spread_bps == cfg.trader.sim_spread_bps
    assert step_params(cfg.env).fee == pytest.approx(0.006 + 2.0 / 20_000)
    assert cfg.env.execution_delay and cfg.env.action_mapping == "weights"
    cheap = Config(trader=TraderSection(sim_taker_fee_rate=0.001, sim_spread_bps=10.0))
    assert (cheap.env.fee_rate, cheap.env.spread_bps) == (0.001, 10.0)
    alp = Config(gates=GatesSection(paper_broker="alpaca"))
    assert alp.env.fee_rate == alp.alpaca.taker_fee_rate
    own = Config(env=EnvSection(fee_rate=0.002))   # an explicit value wins
    assert own.env.fee_rate == 0.002 and own.env.spread_bps == 2.0


def test_a_model_without_a_recorded_mapping_steps_the_old_way() -> None:
    old = {"initial_cash": 1000.0, "fee_rate": 0.0025, "min_order_value": 1.0,
           "max_trade_fraction": 0.1, "reward_scaling": 100.0}   # an older spec.json's env
    pr = step_params(old)
    assert not pr.weights and not pr.delay and pr.fee == 0.0025 and pr.max_frac == 0.1
    assert LEGACY_ENV["action_mapping"] == "delta"
