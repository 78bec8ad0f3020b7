"""Load cappuccino.toml: file, then CAPPUCCINO_<SECTION>__<KEY> overrides, then validation.

Lookup order: an explicit path, else $CAPPUCCINO_CONFIG, else ./cappuccino.toml, else the
embedded defaults. Any problem raises ConfigError with one line naming file, key and
expectation; the CLI turns it into exit status 2.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from engine.config.schema import Config

ENV_PREFIX = "CAPPUCCINO_"
ENV_CONFIG = "CAPPUCCINO_CONFIG"
# Keys holding paths; relative values are taken from the config file's directory.
PATH_KEYS = (("store", "path"), ("paths", "data"), ("paths", "models"), ("paths", "logs"),
             ("paths", "run"), ("secrets", "key_file"), ("data", "path"))


class ConfigError(Exception):
    """A configuration problem, already phrased for the operator."""


def _parse_env_value(raw: str) -> Any:
    # Env values are TOML literals when they parse (1, 0.5, true, ["a"]), else plain strings.
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def _apply_env(data: dict[str, Any], environ: Mapping[str, str]) -> list[str]:
    applied = []
    for name, raw in sorted(environ.items()):
        if not name.startswith(ENV_PREFIX) or "__" not in name[len(ENV_PREFIX):]:
            continue
        parts = [p.lower() for p in name[len(ENV_PREFIX):].split("__")]
        node = data
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"{name}: [{'.'.join(parts[:-1])}] is not a section")
            node = child
        node[parts[-1]] = _parse_env_value(raw)
        applied.append(name)
    return applied


def _resolve_paths(data: dict[str, Any], base: Path) -> None:
    for section, key in PATH_KEYS:
        value = data.get(section, {}).get(key) if isinstance(data.get(section), dict) else None
        if value is None:
            value = getattr(getattr(Config(), section), key)
        if isinstance(value, str) and value:
            p = Path(value).expanduser()
            data.setdefault(section, {})[key] = str(p if p.is_absolute() else (base / p))


def _describe(err: dict[str, Any]) -> str:
    loc = [str(x) for x in err["loc"] if not str(x).startswith("function-after")]
    key = ".".join(loc) if loc else "(top level)"
    section, _, leaf = key.partition(".")
    where = f"[{section}] {leaf}" if leaf else f"[{section}]"
    kind = err["type"]
    if kind == "extra_forbidden":
        return f"{where}: unknown key"
    msg = err["msg"]
    if "input" in err and kind not in ("missing",):
        return f"{where}: {msg}, got {err['input']!r}"
    return f"{where}: {msg}"


def find_config_path(explicit: str | os.PathLike[str] | None = None,
                     environ: Mapping[str, str] | None = None) -> Path | None:
    environ = os.environ if environ is None else environ
    if explicit:
        return Path(explicit)
    if environ.get(ENV_CONFIG):
        return Path(environ[ENV_CONFIG])
    default = Path("cappuccino.toml")
    return default if default.exists() else None


def load_config(path: str | os.PathLike[str] | None = None,
                environ: Mapping[str, str] | None = None) -> Config:
    environ = os.environ if environ is None else environ
    cfg_path = find_config_path(path, environ)
    data: dict[str, Any] = {}
    if cfg_path is not None:
        try:
            data = tomllib.loads(cfg_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"{cfg_path}: config file not found") from None
        except PermissionError:
            raise ConfigError(f"{cfg_path}: config file is not readable") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise ConfigError(f"{cfg_path}: not valid TOML: {e}") from None
        base = cfg_path.resolve().parent
        label = str(cfg_path)
    else:
        base = Path.cwd()
        label = "<embedded defaults>"
    _apply_env(data, environ)
    _resolve_paths(data, base)
    try:
        cfg = Config.model_validate(data)
    except ValidationError as e:
        raise ConfigError(f"{label}: {_describe(e.errors()[0])}") from None
    return cfg.model_copy(update={"source": label})
