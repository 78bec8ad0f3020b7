"""cappuccino.toml documents every option of the schema, with its default and a comment.

When this fails after a key was added to engine/config/schema.py, add a line
`# key = <default>  # what it does` under the key's [section] in cappuccino.toml.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from engine.config import Config, load_config
from engine.config.load import PATH_KEYS

ROOT = Path(__file__).resolve().parents[3]
REFERENCE = ROOT / "cappuccino.toml"
# `# key = value  # comment`: an option line. Prose uses `##`, so it never matches.
OPTION = re.compile(r"^# ([A-Za-z_][A-Za-z0-9_]*) = (.*)$")
UNSET = object()


def schema_defaults(model: BaseModel, prefix: str = "") -> dict[str, Any]:
    """{'risk.daily_loss_pct': 2.0, 'conviction.weights.size': 0.3, ...} for every leaf key."""
    out: dict[str, Any] = {}
    for name, field in type(model).model_fields.items():
        if field.exclude:  # set by the loader (source), not an option
            continue
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            out |= schema_defaults(value, f"{prefix}{name}.")
        else:
            out[f"{prefix}{name}"] = value
    return out


def toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list | tuple):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    return repr(v)


def documented() -> tuple[dict[str, Any], dict[str, str], list[str]]:
    """(values, comments, problems) of the option lines, keyed 'section.key'."""
    values: dict[str, Any] = {}
    comments: dict[str, str] = {}
    problems: list[str] = []
    section = ""
    for n, line in enumerate(REFERENCE.read_text(encoding="utf-8").splitlines(), 1):
        header = re.match(r"^\[([A-Za-z0-9_.]+)\]\s*$", line)
        if header:
            section = header.group(1)
            continue
        m = OPTION.match(line)
        if not m:
            continue
        key = f"{section}.{m.group(1)}" if section else m.group(1)
        try:
            value = tomllib.loads(line[2:])[m.group(1)]
        except tomllib.TOMLDecodeError as e:
            problems.append(f"line {n} ({key}): not a TOML value: {e}")
            continue
        comment = m.group(2).split("  # ", 1)[1].strip() if "  # " in m.group(2) else ""
        if key in values:
            problems.append(f"line {n} ({key}): documented twice")
        values[key], comments[key] = value, comment
    return values, comments, problems


def test_reference_documents_every_option_with_its_default() -> None:
    defaults = schema_defaults(Config())
    values, comments, problems = documented()
    missing = sorted(k for k in defaults if k not in values)
    stale = sorted(k for k in values if k not in defaults)
    wrong = []
    for key in sorted(set(defaults) & set(values)):
        want, have = defaults[key], values[key]
        if want is None:  # TOML has no null: the line shows an example and says "unset"
            if "unset" not in comments[key]:
                wrong.append(f"{key}: default is unset; say 'unset' in its comment")
        elif have != want or type(have) is not type(want):
            wrong.append(f"{key}: documented {have!r}, default is {want!r}")
    undescribed = sorted(k for k, c in comments.items() if not c)
    report = []
    if missing:
        report.append("missing from cappuccino.toml: " + ", ".join(missing))
        for key in missing:
            section, _, leaf = key.rpartition(".")
            value = "..." if defaults[key] is None else toml_value(defaults[key])
            report.append(f"  under [{section}] add: # {leaf} = {value}  # <what it does>")
    if wrong:
        report.append("wrong default: " + "; ".join(wrong))
    if stale:
        report.append("documented but not in the schema: " + ", ".join(stale))
    if undescribed:
        report.append("no `  # explanation` comment: " + ", ".join(undescribed))
    report += problems
    assert not report, "\n".join(report)


def without_paths(cfg: Config) -> dict[str, Any]:
    """The config as a dict, minus `source` and the keys holding resolved paths."""
    data = cfg.model_dump(exclude={"source"})
    for section, key in PATH_KEYS:
        data[section].pop(key)
    return data


def test_reference_file_loads_to_the_defaults(tmp_path: Path) -> None:
    """As shipped (all commented) and fully uncommented, the file gives the default config."""
    assert without_paths(load_config(REFERENCE, environ={})) == without_paths(Config())
    lines = []
    for line in REFERENCE.read_text(encoding="utf-8").splitlines():
        # An unset (None) default cannot be written in TOML; keep that example commented.
        if OPTION.match(line) and "  # unset" not in line:
            line = line[2:]
        lines.append(line)
    (tmp_path / "full.toml").write_text("\n".join(lines) + "\n")
    (tmp_path / "empty.toml").write_text("")
    full = load_config(tmp_path / "full.toml", environ={})
    empty = load_config(tmp_path / "empty.toml", environ={})
    assert full.model_dump(exclude={"source"}) == empty.model_dump(exclude={"source"})
