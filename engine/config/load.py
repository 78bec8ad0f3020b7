"""Load cappuccino.toml: file, then CAPPUCCINO_<SECTION>__<KEY> overrides, then validation.

Lookup order: an explicit path, else $CAPPUCCINO_CONFIG, else ./cappuccino.toml, else the
embedded defaults. Any problem raises ConfigError with one line naming file, key and
expectation; the CLI turns it into exit status 2.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

from pydantic import BaseModel, ValidationError

from engine.config.schema import Config

if typing.TYPE_CHECKING:
    from pydantic_core import InitErrorDetails

ENV_PREFIX = "CAPPUCCINO_"
ENV_CONFIG = "CAPPUCCINO_CONFIG"
# Keys holding paths; relative values are taken from the config file's directory.
PATH_KEYS = (("store", "path"), ("paths", "data"), ("paths", "models"), ("paths", "logs"),
             ("paths", "run"), ("secrets", "key_file"), ("data", "path"))
# Set by the loader, never by a file or the environment.
LOADER_KEYS = frozenset({"source"})
# Unknown keys that look like credentials get a pointer to where secrets belong.
SECRET_WORDS = re.compile(r"secret|api_?key|token|password|passphrase|apprise_urls", re.I)
# Types TOML already gives exactly: a string "2.0" for a number or "yes" for a bool is a
# mistake in the file, not something to coerce. (Lists for tuple fields stay allowed.)
STRICT_TYPES = frozenset({"bool_type", "int_type", "float_type", "string_type"})


class ConfigError(Exception):
    """A configuration problem, already phrased for the operator."""


def _parse_env_value(raw: str) -> Any:
    # Env values are TOML literals when they parse (1, 0.5, true, ["a"]), else plain strings.
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def _field(parts: list[str]) -> Any:
    """The schema field at parts (section, ..., key), or None when unknown."""
    model: Any = Config
    info = None
    for part in parts:
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return None
        info = model.model_fields.get(part)
        if info is None:
            return None
        model = info.annotation
    return info


def _wants_str(parts: list[str]) -> bool:
    info = _field(parts)
    if info is None:
        return False
    ann = info.annotation
    if ann is str:
        return True
    if typing.get_origin(ann) is typing.Literal:
        return all(isinstance(a, str) for a in typing.get_args(ann))
    return False


def _apply_env(data: dict[str, Any], environ: Mapping[str, str]) -> dict[tuple[str, ...], str]:
    """Apply overrides in place; returns {key path: env var name} for error messages."""
    applied: dict[tuple[str, ...], str] = {}
    for name, raw in sorted(environ.items()):
        if not name.startswith(ENV_PREFIX) or "__" not in name[len(ENV_PREFIX):]:
            continue
        parts = [p.lower() for p in name[len(ENV_PREFIX):].split("__")]
        node = data
        for i, part in enumerate(parts[:-1]):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"${name}: [{'.'.join(parts[:i + 1])}] is not a section")
            node = child
        # A string key keeps the raw text: CAPPUCCINO_STUDY__NAME=2024 is the name "2024".
        node[parts[-1]] = raw if _wants_str(parts) else _parse_env_value(raw)
        applied[tuple(parts)] = name
    return applied


def _resolve_paths(data: dict[str, Any], base: Path) -> None:
    for section, key in PATH_KEYS:
        node = data.get(section)
        if node is not None and not isinstance(node, dict):
            continue  # validation reports "[section] must be a table"
        value = node.get(key) if node is not None else None
        if value is None:
            value = getattr(getattr(Config(), section), key)
        if isinstance(value, str) and value:
            p = Path(value).expanduser()
            data.setdefault(section, {})[key] = str(p if p.is_absolute() else (base / p))


def _names(parts: list[str]) -> list[str]:
    """The keys allowed at parts (a section path); [] when parts is not a section."""
    model: Any = Config
    for part in parts:
        info = model.model_fields.get(part) if hasattr(model, "model_fields") else None
        if info is None:
            return []
        model = info.annotation
    if not hasattr(model, "model_fields"):
        return []
    return [n for n in model.model_fields if n not in LOADER_KEYS]


def _where(loc: list[str]) -> str:
    """'[conviction.weights] size' for the location ('conviction', 'weights', 'size')."""
    sections: list[str] = []
    for i in range(len(loc)):
        info = _field(loc[: i + 1])
        ann = info.annotation if info is not None else None
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            sections.append(loc[i])
        else:
            break
    rest = loc[len(sections):]
    head = f"[{'.'.join(sections)}]" if sections else ""
    key = ".".join(rest)
    if not sections:  # a top-level name: a section (or unknown)
        return f"[{key}]"
    return f"{head} {key}" if key else head


def _expected(err: Mapping[str, Any]) -> str:
    kind, ctx, msg = err["type"], err.get("ctx") or {}, str(err["msg"])
    bounds = {"greater_than": ("gt", "> "), "greater_than_equal": ("ge", ">= "),
              "less_than": ("lt", "< "), "less_than_equal": ("le", "<= ")}
    if kind in bounds:
        name, op = bounds[kind]
        return f"must be {op}{ctx.get(name)}"
    simple = {"bool_type": "expected true or false", "bool_parsing": "expected true or false",
              "int_type": "expected an integer", "int_parsing": "expected an integer",
              "int_from_float": "expected a whole number",
              "float_type": "expected a number", "float_parsing": "expected a number",
              "string_type": "expected a string (in quotes)", "list_type": "expected a list",
              "missing": "is required"}
    if kind in simple:
        return simple[kind]
    if kind in ("literal_error", "enum"):
        return f"expected one of {ctx.get('expected', '')}"
    if kind == "string_pattern_mismatch":
        return f"must match {ctx.get('pattern')}"
    if kind in ("too_short", "too_long"):
        word = "at least" if kind == "too_short" else "at most"
        n = ctx.get("min_length" if kind == "too_short" else "max_length")
        return f"needs {word} {n} item{'s' if n != 1 else ''}"
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        return "must be a table (a [section])"
    if kind == "value_error":
        return msg.removeprefix("Value error, ")
    return msg


def _describe(err: Mapping[str, Any], env: Mapping[tuple[str, ...], str]) -> str:
    loc = [str(x) for x in err["loc"] if not str(x).startswith("function-after")]
    where = _where(loc) if loc else "(top level)"
    kind = err["type"]
    # Name the environment override behind the bad value (or inside the bad section).
    names = [name for key, name in env.items()
             if key[:len(loc)] == tuple(loc) or tuple(loc[:len(key)]) == key]
    source = f" (from ${names[0]})" if names else ""
    if kind == "extra_forbidden" and SECRET_WORDS.search(loc[-1]):
        return (f"{where}{source}: unknown key; secrets never go in the config file: set them "
                "in the environment or in the [secrets] key_file (see cappuccino.toml)")
    if kind == "extra_forbidden":
        parent = loc[:-1]
        allowed = _names(parent)
        what = "unknown section" if not parent else "unknown key"
        hint = difflib.get_close_matches(loc[-1], allowed, n=1)
        tip = f"; did you mean {hint[0]!r}?" if hint else (
            f"; expected one of {', '.join(allowed)}" if len(allowed) <= 12 else "")
        return f"{where}{source}: {what}{tip}"
    text = _expected(err)
    if "input" in err and kind not in ("missing", "value_error", "model_type", "dict_type"):
        got = repr(err["input"])
        got = got if len(got) <= 60 else got[:57] + "..."
        text += f", got {got}"
    return f"{where}{source}: {text}"


def find_config_path(explicit: str | os.PathLike[str] | None = None,
                     environ: Mapping[str, str] | None = None) -> Path | None:
    environ = os.environ if environ is None else environ
    if explicit:
        return Path(explicit)
    if environ.get(ENV_CONFIG):
        return Path(environ[ENV_CONFIG])
    default = Path("cappuccino.toml")
    return default if default.exists() else None


def _read(cfg_path: Path) -> dict[str, Any]:
    try:
        text = cfg_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{cfg_path}: config file not found") from None
    except PermissionError:
        raise ConfigError(f"{cfg_path}: config file is not readable (permission denied)") from None
    except IsADirectoryError:
        raise ConfigError(f"{cfg_path}: is a folder, not a config file") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{cfg_path}: not valid TOML (not UTF-8 text)") from None
    except OSError as e:
        raise ConfigError(f"{cfg_path}: cannot read the config file ({e.strerror})") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{cfg_path}: not valid TOML: {e}") from None


def load_config(path: str | os.PathLike[str] | None = None,
                environ: Mapping[str, str] | None = None) -> Config:
    environ = os.environ if environ is None else environ
    cfg_path = find_config_path(path, environ)
    data: dict[str, Any] = {}
    if cfg_path is not None:
        data = _read(cfg_path)
        base = cfg_path.resolve().parent
        label = str(cfg_path)
    else:
        base = Path.cwd()
        label = "<embedded defaults>"
    for key in LOADER_KEYS & set(data):
        raise ConfigError(f"{label}: [{key}]: unknown key (set by the loader, not the file)")
    env = _apply_env(data, environ)
    _resolve_paths(data, base)
    try:
        cfg = Config.model_validate(data)
        # TOML values have exact types: refuse "2.0" for a number, "yes" for a bool.
        try:
            Config.model_validate(data, strict=True)
        except ValidationError as e:
            strict = [err for err in e.errors() if err["type"] in STRICT_TYPES]
            if strict:
                # errors() entries carry every InitErrorDetails key (type, loc, input, ctx)
                raise ValidationError.from_exception_data(
                    e.title, cast("list[InitErrorDetails]", strict)) from None
    except ValidationError as e:
        errors = e.errors()
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise ConfigError(f"{label}: {_describe(errors[0], env)}{more}") from None
    return cfg.model_copy(update={"source": label})
