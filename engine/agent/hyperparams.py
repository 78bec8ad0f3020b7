"""PPO hyperparameters: one frozen value, built from [ppo] and (optionally) a study trial.

SEARCH lists every hyperparameter the study samples. Each one is a field of Hyperparams
and each field is read by engine.agent.ppo (tests/engine/agent/test_hyperparams.py proves
it by changing one at a time). The original sampled 15 and silently used 8.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Protocol


@dataclass(frozen=True)
class Hyperparams:
    lr: float = 3e-4
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip: float = 0.2
    n_envs: int = 64
    n_steps: int = 64
    epochs: int = 4
    minibatch: int = 1024
    ent_coef: float = 0.0
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    hidden: int = 64
    init_log_std: float = -2.5
    total_steps: int = 200_000
    episode_len: int = 1024
    noise_hold: int = 64   # exploration noise drawn every this many steps (PPO.collect)

    @classmethod
    def from_config(cls, ppo: Any) -> Hyperparams:
        """From the [ppo] config section (engine.config.schema.PPOSection)."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in ppo.model_dump().items() if k in names})

    @classmethod
    def from_dict(cls, data: dict[str, Any], base: Hyperparams | None = None) -> Hyperparams:
        names = {f.name for f in fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ValueError(f"unknown hyperparameters: {sorted(unknown)}")
        return replace(base or cls(), **data)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def with_(self, **changes: Any) -> Hyperparams:
        return replace(self, **changes)

    @property
    def batch(self) -> int:
        return self.n_envs * self.n_steps

    @property
    def effective_minibatch(self) -> int:
        return max(1, min(self.minibatch, self.batch))


class TrialLike(Protocol):
    def suggest_float(self, name: str, low: float, high: float, *, log: bool = False) -> float: ...
    def suggest_int(self, name: str, low: int, high: int, *, log: bool = False) -> int: ...
    def suggest_categorical(self, name: str, choices: Any) -> Any: ...


# name -> (kind, low/choices, high, log). Every name is a Hyperparams field.
SEARCH: dict[str, tuple[str, Any, Any, bool]] = {
    "lr": ("float", 1e-5, 3e-3, True),
    "gamma": ("float", 0.9, 0.999, False),
    "gae_lambda": ("float", 0.8, 0.99, False),
    "clip": ("float", 0.1, 0.3, False),
    "n_steps": ("cat", (32, 64, 128), None, False),
    "epochs": ("int", 1, 8, False),
    "minibatch": ("cat", (256, 512, 1024, 2048, 4096), None, False),
    "ent_coef": ("float", 1e-6, 1e-2, True),
    "vf_coef": ("float", 0.25, 1.0, False),
    "max_grad_norm": ("float", 0.3, 2.0, False),
    "hidden": ("cat", (32, 64, 128, 256), None, False),
    "init_log_std": ("float", -3.5, -1.5, False),  # with noise_hold (engine.bench.band)
}


def sample(trial: TrialLike, base: Hyperparams) -> Hyperparams:
    """Sample every SEARCH entry from the trial; the rest come from `base` ([ppo])."""
    values: dict[str, Any] = {}
    for name, (kind, low, high, log) in SEARCH.items():
        if kind == "float":
            values[name] = trial.suggest_float(name, low, high, log=log)
        elif kind == "int":
            values[name] = trial.suggest_int(name, low, high, log=log)
        else:
            values[name] = trial.suggest_categorical(name, list(low))
    return replace(base, **values)


def from_trial_params(params: dict[str, Any], base: Hyperparams) -> Hyperparams:
    """Rebuild the Hyperparams of a sampled trial (a worker reads them from the storage)."""
    return replace(base, **{k: v for k, v in params.items() if k in SEARCH})
