"""A model directory holds everything needed to run a policy without guessing shapes.

    model.pt      actor state_dict (torch.save, weights only)
    spec.json     ModelSpec: tickers, timeframe, dims, hidden, feature spec, env config,
                  data and feature fingerprints
    params.json   the trial's hyperparameters
    metrics.json  objective, Sharpe, equal-weight and HODL benchmarks, ...

Files are written atomically (temp file, fsync, rename); spec.json last, so a directory
with a spec.json is complete.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engine.files import write_atomic


class ModelError(Exception):
    """A model directory is missing, corrupt or does not match the data (operator-facing)."""


@dataclass(frozen=True)
class ModelSpec:
    tickers: tuple[str, ...]
    timeframe: str
    obs_dim: int
    act_dim: int
    hidden: int
    features: dict[str, Any]        # engine.features FeatureSpec as a dict
    env: dict[str, Any]             # the [env] config used in training
    data_fingerprint: str
    study: str = ""
    trial: int = -1
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def feature_fingerprint(self) -> str:
        blob = json.dumps({"features": self.features, "env": self.env, "tickers": self.tickers,
                           "timeframe": self.timeframe}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def write_json(path: Path, obj: Any) -> None:
    write_atomic(path, json.dumps(obj, indent=2, sort_keys=True, default=str).encode())


def save_model(directory: str | Path, actor_state: dict[str, Any], spec: ModelSpec,
               params: dict[str, Any], metrics: dict[str, Any]) -> Path:
    import io

    import torch

    d = Path(directory)
    buf = io.BytesIO()
    torch.save({k: v.detach().cpu() for k, v in actor_state.items()}, buf)
    write_atomic(d / "model.pt", buf.getvalue())
    write_json(d / "params.json", params)
    write_json(d / "metrics.json", metrics)
    spec_dict = asdict(spec)
    spec_dict["feature_fingerprint"] = spec.feature_fingerprint
    write_json(d / "spec.json", spec_dict)
    return d


def read_spec(directory: str | Path) -> ModelSpec:
    d = Path(directory)
    path = d / "spec.json"
    if not d.is_dir():
        raise ModelError(f"{d}: model directory not found")
    if not path.exists():
        raise ModelError(f"{d}: not a model directory (no spec.json; incomplete or not a model)")
    try:
        raw = json.loads(path.read_text())
        raw.pop("feature_fingerprint", None)
        raw["tickers"] = tuple(raw["tickers"])
        return ModelSpec(**raw)
    except (ValueError, TypeError, KeyError) as e:
        raise ModelError(f"{path}: corrupt model spec ({e})") from None


class LoadedModel:
    """A deterministic policy: observations (B, obs_dim) -> actions (B, act_dim) in [-1, 1]."""

    def __init__(self, directory: str | Path, device: str = "cpu"):
        import torch

        from engine.model.network import Actor

        self.path = Path(directory)
        self.spec = read_spec(self.path)
        self.metrics: dict[str, Any] = _read_json(self.path / "metrics.json")
        self.params: dict[str, Any] = _read_json(self.path / "params.json")
        self.device = device
        self.actor = Actor(self.spec.obs_dim, self.spec.act_dim, self.spec.hidden)
        try:
            state = torch.load(self.path / "model.pt", map_location=device, weights_only=True)
            self.actor.load_state_dict(state)
        except FileNotFoundError:
            raise ModelError(f"{self.path}: model.pt is missing") from None
        except Exception as e:  # torch raises many kinds for a damaged file: one line
            raise ModelError(f"{self.path / 'model.pt'}: corrupt weights ({type(e).__name__})") from None
        self.actor.to(device).eval()

    def act(self, obs: np.ndarray) -> np.ndarray:
        import torch

        if obs.ndim != 2 or obs.shape[1] != self.spec.obs_dim:
            raise ModelError(f"{self.path}: observation shape {obs.shape} does not match "
                             f"obs_dim {self.spec.obs_dim}")
        with torch.inference_mode():
            t = torch.as_tensor(obs, dtype=torch.float32, device=self.device)
            return self.actor.mean(t).cpu().numpy()


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return dict(json.loads(path.read_text()))
    except FileNotFoundError:
        return {}
    except ValueError:
        raise ModelError(f"{path}: corrupt JSON") from None


def spec_mismatch(spec: ModelSpec, tickers: tuple[str, ...], timeframe: str,
                  features: dict[str, Any], env: dict[str, Any],
                  model_owned: bool = False) -> list[str]:
    """What differs between a model and the data/config it is asked to trade. Empty: match.

    Env keys a model does not record read as what older models were trained with
    (engine.env.step.LEGACY_ENV). model_owned=False skips the keys the model owns
    (MODEL_ENV_KEYS: its action mapping and costs) - a trader's config never refuses a
    model on them; ensemble members compare them too (model_owned=True)."""
    from engine.env.step import MODEL_ENV_KEYS, env_value

    diffs = []
    if tuple(spec.tickers) != tuple(tickers):
        diffs.append(f"tickers: model {list(spec.tickers)} vs trader {list(tickers)}")
    if spec.timeframe != timeframe:
        diffs.append(f"timeframe: model {spec.timeframe} vs trader {timeframe}")
    for key in sorted(set(spec.features) | set(features)):
        if spec.features.get(key) != features.get(key):
            diffs.append(f"features.{key}: model {spec.features.get(key)!r} vs trader {features.get(key)!r}")
    for key in sorted(set(spec.env) | set(env)):
        if key in MODEL_ENV_KEYS and not model_owned:
            continue
        mine, theirs = env_value(spec.env, key), env_value(env, key)
        if mine != theirs:
            diffs.append(f"env.{key}: model {mine!r} vs trader {theirs!r}")
    return diffs
