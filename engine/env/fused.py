"""PortfolioVecEnv's step as one pure function of tensors: fused arithmetic, no host reads.

The same rules and, operation for operation, the same arithmetic as engine.env.step's
trade_step on TorchOps (the reference the backtester runs on numpy), restructured for a
device: one gather of a precomputed per-bar table gives both bars' prices and the
equal-weight growth, masks are multiplications, and nothing reads a value
back to the host or makes a shape depend on data. So on CUDA it runs without a
synchronisation, torch.compile fuses it into a few kernels, and a CUDA graph can replay it.

Shapes: N envs, A assets. bars (T - 1, 2A + 1) float64: row t = [close[t], close[t+1],
equal-weight growth t -> t+1]. cash, ew (N,) float64; holdings (N, A) float64; t (N,) long;
act (N, A) any float dtype. Episode resets are not part of the step (the env does them).
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from engine.env.step import CASH_MARGIN, StepParams

_EQUITY_FLOOR = 1e-300   # engine.features: equity 0 -> weights 0


class Bars(NamedTuple):
    """Precomputed per-env-config tensors the step reads (shared by every env)."""

    table: torch.Tensor          # (T - 1, 2A + 1) float64: close[t], close[t+1], ew growth
    obs_rows: torch.Tensor | None   # (T, obs_dim) float32, state columns zero; None: too big
    features_flat: torch.Tensor  # (T, A*F) float32 (the gather path when obs_rows is None)
    window_offsets: torch.Tensor  # (lookback,) long
    initial_cash: float


class FusedOut(NamedTuple):
    cash: torch.Tensor
    holdings: torch.Tensor
    ew: torch.Tensor
    t: torch.Tensor        # t + 1
    obs: torch.Tensor      # (N, obs_dim) float32 at t + 1 (before any episode reset)
    reward: torch.Tensor   # float32
    equity: torch.Tensor   # value after trading, at close[t+1]
    fees: torch.Tensor
    trades: torch.Tensor


def bar_table(prices: torch.Tensor) -> torch.Tensor:
    """(T - 1, 2A + 1): close[t], close[t+1] and the equal-weight growth t -> t+1."""
    ratio = prices[1:] / prices[:-1]
    return torch.cat([prices[:-1], prices[1:], ratio.mean(dim=1, keepdim=True)], dim=1
                     ).contiguous()


def observe(bars: Bars, t: torch.Tensor, cash: torch.Tensor, holdings: torch.Tensor,
            prices: torch.Tensor, values: torch.Tensor | None = None) -> torch.Tensor:
    """Observations at bars t (engine.features.observation_batch's numbers, exactly);
    values = holdings * prices when the caller has it."""
    n, a = holdings.shape
    if values is None:
        values = holdings * prices
    # The equity summed in asset order, cash first (the live path's order): a cumulative sum
    # over [cash, values] is that sequential sum in one op.
    eq = torch.cat([cash.unsqueeze(1), values], dim=1).cumsum(dim=1)[:, a]
    if bars.obs_rows is not None:
        obs = bars.obs_rows.index_select(0, t)
    else:
        rows = (t.unsqueeze(1) + bars.window_offsets).reshape(-1)
        window = bars.features_flat.index_select(0, rows).reshape(n, -1)
        obs = torch.cat([window.new_empty(n, 1 + a), window], dim=1)
    obs[:, 0] = cash / bars.initial_cash                     # rounded to float32 on store
    obs[:, 1:1 + a] = values / eq.clamp_min(_EQUITY_FLOOR).unsqueeze(1)
    return obs


def fused_step(prm: StepParams, bars: Bars, cash: torch.Tensor, holdings: torch.Tensor,
               ew: torch.Tensor, t: torch.Tensor, act: torch.Tensor) -> FusedOut:
    """One vec step: trade at t (t+1 with prm.delay), mark to t+1, score, observe t+1."""
    a = holdings.shape[1]
    row = bars.table.index_select(0, t)
    p, p1, growth = row[:, :a], row[:, a:2 * a], row[:, 2 * a]
    # A copy always (the caller's actions stay as they were); NaN places no order.
    act = act.to(torch.float64, copy=True).nan_to_num_(nan=0.0).clamp_(-1.0, 1.0)

    held0 = holdings * p
    held_sum0 = held0.sum(-1)
    value0 = cash + held_sum0
    if prm.delay:
        px, held_x = p1, holdings * p1
        held_sum_x = held_x.sum(-1)
        value_x = cash + held_sum_x
    else:
        px, held_x, held_sum_x, value_x = p, held0, held_sum0, value0
    shares = _desired_shares(prm, px, value_x, held_x, held_sum_x, act)

    # Sells first (no shorting); a sell below the minimum order value is skipped.
    sell = torch.minimum((-shares).clamp_min_(0.0), holdings)
    sell_val = sell * px
    sell_ok = sell_val >= prm.min_order
    if prm.min_order <= 0:
        sell_ok &= sell > 0
    # Masks multiply (x·0 or x·1): on a CPU several times faster than torch.where at large N.
    sell_val = sell_val.mul_(sell_ok)
    holdings = holdings - sell.mul_(sell_ok)
    sell_total = sell_val.sum(-1)
    cash = cash + sell_total * (1.0 - prm.fee)

    # Then buys: skip small ones, scale all down by one factor if the cash is short.
    buy_val = shares.clamp_min_(0.0).mul_(px)
    buy_val = buy_val.mul_(buy_val >= prm.min_order)
    need = buy_val.sum(-1) * (1.0 + prm.fee)
    factor = (cash / need.clamp_min_(1e-300)).clamp_max_(1.0)
    buy_val = buy_val.mul_(factor.unsqueeze(1))
    buy_ok = buy_val >= prm.min_order
    if prm.min_order <= 0:
        buy_ok &= buy_val > 0
    buy_val = buy_val.mul_(buy_ok)
    holdings = holdings + buy_val / px
    buy_total = buy_val.sum(-1)
    cash = (cash - buy_total * (1.0 + prm.fee)).clamp_min_(0.0)  # rounding never below 0

    values1 = holdings * p1
    value1 = cash + values1.sum(-1)
    ew1 = ew * growth
    reward = ((value1 - value0) - (ew1 - ew)).mul_(prm.scale).to(torch.float32)
    fees = (sell_total + buy_total).mul_(prm.fee)
    trades = (sell_ok | buy_ok).sum(-1)   # disjoint: a leg sells or buys, never both
    t1 = t + 1
    obs = observe(bars, t1, cash, holdings, p1, values1)
    return FusedOut(cash, holdings, ew1, t1, obs, reward, value1, fees, trades)


def _desired_shares(prm: StepParams, px: torch.Tensor, value: torch.Tensor,
                    held: torch.Tensor, held_sum: torch.Tensor, act: torch.Tensor
                    ) -> torch.Tensor:
    """Signed shares the actions ask for (engine.env.step.desired_shares, same numbers;
    held_sum = held.sum(-1), already summed for the equity)."""
    if not prm.weights:
        return act.mul_((prm.max_frac * value).unsqueeze(1)).div_(px)
    n = act.shape[-1]
    target = act.add_(1.0).mul_(1.0 / n)
    target = target.div_(target.sum(-1).clamp_min_(1.0).unsqueeze(1))   # at most fully in
    value_c = value.unsqueeze(1)
    trade_val = (target * value_c).sub_(held)
    trade_val = trade_val.mul_(trade_val.abs() > value_c * (prm.band / n))
    # Buys spend only the cash held before this bar's sells, all scaled by one factor.
    buys = trade_val.clamp_min(0.0)
    cash = (value - held_sum).clamp_min_(0.0).mul_(1.0 - CASH_MARGIN)
    factor = cash.div_((buys.sum(-1) * (1.0 + prm.fee)).clamp_min_(1e-300)).clamp_max_(1.0)
    return trade_val.add_(buys.mul_(factor.sub_(1.0).unsqueeze(1))).div_(px)
