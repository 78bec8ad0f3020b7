"""The trading policy: one model directory or an ensemble whose actions are averaged.

`--model` accepts a model directory, a comma-separated list of directories, or
`ensemble:K` (the top K models of a study by objective, from the registry's models table;
the latest study unless one is given). Every member must match the trader's tickers,
timeframe, features and env config; a mismatch is refused with a message listing what
differs (the original system traded on a 'simplified' state that did not match training).

Agreement per ticker = the share of members whose action has the sign of the mean action
(a zero mean counts members at zero).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engine.config import Config
from engine.model.artifact import LoadedModel, ModelError, ModelSpec, spec_mismatch
from store import registry
from store.db import Store

ENSEMBLE_PREFIX = "ensemble:"


def resolve_model_dirs(model_arg: str, store: Store | None = None,
                       study: str | None = None) -> tuple[list[Path], str | None]:
    """Model dirs for a --model value, and the study they came from (registry only)."""
    arg = model_arg.strip()
    if arg.startswith(ENSEMBLE_PREFIX):
        try:
            k = int(arg[len(ENSEMBLE_PREFIX):])
        except ValueError:
            raise ModelError(f"--model {arg}: expected ensemble:K with K a whole number") from None
        if k < 1:
            raise ModelError(f"--model {arg}: K must be at least 1")
        if store is None:
            raise ModelError("--model ensemble:K needs the store's model registry")
        if not study:
            study = registry.newest_model_study(store)
            if study is None:
                raise ModelError("--model ensemble:K: the registry holds no models yet "
                                 "(run a study first)")
        rows = registry.best_models(store, study, k)
        if not rows:
            raise ModelError(f"--model {arg}: study {study!r} has no scored models")
        return [Path(r.path) for r in rows], study
    dirs = [Path(p.strip()) for p in arg.split(",") if p.strip()]
    if not dirs:
        raise ModelError("--model is empty")
    return dirs, study


@dataclass(frozen=True)
class PolicyOutput:
    actions: np.ndarray      # (A,) mean action in [-1, 1]
    agreement: np.ndarray    # (A,) share of members agreeing with the mean's sign
    members: np.ndarray      # (M, A) every member's action


class Policy:
    def __init__(self, members: list[LoadedModel]) -> None:
        if not members:
            raise ModelError("a policy needs at least one model")
        self.members = members
        self.spec: ModelSpec = members[0].spec

    def mean_metric(self, name: str) -> float | None:
        """The members' mean of a recorded metric (e.g. backtest sharpe), None if none has it."""
        vals = [m.metrics.get(name) for m in self.members]
        nums = [float(v) for v in vals if isinstance(v, int | float) and math.isfinite(v)]
        return sum(nums) / len(nums) if nums else None

    @property
    def paths(self) -> list[str]:
        return [str(m.path) for m in self.members]

    def describe(self) -> str:
        if len(self.members) == 1:
            return str(self.members[0].path)
        return f"ensemble of {len(self.members)}: " + ", ".join(m.path.name for m in self.members)

    def act(self, obs: np.ndarray) -> PolicyOutput:
        batch = np.asarray(obs, dtype=np.float32).reshape(1, -1)
        acts = np.stack([m.act(batch)[0] for m in self.members]).astype(np.float64)
        mean = np.clip(acts.mean(axis=0), -1.0, 1.0)
        agree = (np.sign(acts) == np.sign(mean)[None, :]).mean(axis=0)
        return PolicyOutput(mean, agree, acts)


def load_policy(dirs: list[Path], *, tickers: tuple[str, ...], timeframe: str,
                features: dict[str, Any] | None, env: dict[str, Any] | None,
                device: str = "cpu") -> Policy:
    """Load and check every member. `features`/`env` None: take the first member's (the
    others must still agree with it)."""
    members: list[LoadedModel] = []
    for d in dirs:
        m = LoadedModel(d, device=device)  # ModelError: missing or corrupt, phrased already
        want_f = features if features is not None else (members[0].spec.features if members
                                                        else m.spec.features)
        want_e = env if env is not None else m.spec.env
        diffs = spec_mismatch(m.spec, tickers, timeframe, want_f, want_e)
        if members:  # members agree with each other on everything, mapping and costs too
            first = members[0].spec
            diffs += [x for x in spec_mismatch(m.spec, first.tickers, first.timeframe,
                                               first.features, first.env, model_owned=True)
                      if x not in diffs]
        if diffs:
            raise ModelError(f"{d}: model does not match the trader: " + "; ".join(diffs))
        members.append(m)
    return Policy(members)



def load_offline_policy(cfg: Config, model_arg: str, study: str | None = None) -> Policy:
    """The policy a --model value names (directories, or ensemble:K from the store's
    registry), as the first member's spec describes it, on the CPU: what the offline
    commands (`backtest`, `conviction replay`) run. Raises ModelError."""
    from engine.device import setup_torch
    from engine.model.artifact import read_spec

    store = None
    try:
        if model_arg.strip().startswith(ENSEMBLE_PREFIX):
            from engine.runtime import open_store

            store = open_store(cfg, create=False)
        dirs, _ = resolve_model_dirs(model_arg, store, study)
        setup_torch(cfg)  # threads; one observation a bar runs fastest on the CPU
        spec = read_spec(dirs[0])
        return load_policy(dirs, tickers=spec.tickers, timeframe=spec.timeframe,
                           features=None, env=None, device="cpu")
    finally:
        if store is not None:
            store.close()

def data_mismatch(spec: ModelSpec, tickers: tuple[str, ...], timeframe: str,
                  candles: Any) -> list[str]:
    """What keeps a model from running on this data: other tickers or timeframe, or candle
    fields its own feature spec needs and the data lacks. Empty: it runs. (A model trained
    on close-only data runs unchanged on OHLCV data: observations use the model's spec.)
    The trader and `conviction replay` both refuse on this."""
    from engine.features import INDICATORS, FeatureSpec, missing_fields

    diffs = []
    if tuple(spec.tickers) != tuple(tickers):
        diffs.append(f"tickers: model {list(spec.tickers)} vs data {list(tickers)}")
    if spec.timeframe != timeframe:
        diffs.append(f"timeframe: model {spec.timeframe} vs data {timeframe}")
    fspec = FeatureSpec.from_dict(spec.features)
    lacking = missing_fields(fspec, candles)
    if lacking:
        needs = [n for n in fspec.indicators if set(INDICATORS[n][1]) & lacking]
        diffs.append(f"fields: the data has no {', '.join(sorted(lacking))}, which the "
                     f"model's indicator(s) {', '.join(needs)} need")
    return diffs
