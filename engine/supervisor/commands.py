"""The closed set of commands the supervisor executes, each with a schema checked at execution.

A row of the store's `commands` table is only a request: (action, target, args JSON). The
supervisor turns it into one of the typed commands below with `parse`, or refuses it with
a reason that names the field and the rule but never echoes the value (a value may be a
secret pasted in by mistake). Every model forbids unknown fields; names, tickers, studies
and timeframes match strict patterns (a name can never start with '-' and pass for an
option); money is a bounded Decimal; model folders must resolve inside `[paths] models`.

No command carries an argv: the supervisor builds every argv from these fields (`argv()`),
and `engine.supervisor.spawn` only runs the cappuccino subcommand of a known kind.
`START_KINDS` is the set of processes a plain `start` may declare; it is a registry so a
test's own supervisor can add a test kind (production code adds none).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, ValidationError
from pydantic import StringConstraints as S

from engine.config import Config

SLUG_RE = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
TICKER_RE = r"^[A-Z0-9]{1,12}-[A-Z0-9]{2,12}$"
DEVICE_RE = r"^(auto|cpu|cuda|cuda:[0-9]{1,2})$"
ENSEMBLE_RE = re.compile(r"^ensemble:([1-9][0-9]{0,2})$")
MAX_CAPITAL = Decimal("1000000000")
ALL = "all"

Slug = Annotated[str, S(pattern=SLUG_RE)]
Ticker = Annotated[str, S(pattern=TICKER_RE)]
Timeframe = Literal["1m", "5m", "15m", "30m", "1h", "2h", "6h", "1d"]
# Free text that ends up in the audit log and notifications: one line, bounded.
Text = Annotated[str, S(min_length=1, max_length=500, pattern=r"^[^\x00-\x1f\x7f]*$")]
Capital = Annotated[Decimal, Field(gt=0, le=MAX_CAPITAL, allow_inf_nan=False, max_digits=20,
                                   decimal_places=8)]
# A note that is only recorded (never in an argv): the monitor's auto-stop reason.
Note = Annotated[str, S(max_length=2000)]
ModelRef = Annotated[str, S(min_length=1, max_length=4096, pattern=r"^[^\x00-\x1f\x7f]*$")]
Gpu = Annotated[StrictInt, Field(ge=0, le=99)] | Annotated[str, S(pattern=r"^([0-9]{1,2}|auto|cpu|cuda:[0-9]{1,2})$")]


@runtime_checkable
class Declares(Protocol):
    """A `start` kind's arguments: the process they declare, (kind, argv)."""

    def process(self) -> tuple[str, list[str]]: ...


class Refused(Exception):
    """The row is not a command the supervisor executes; the message is the recorded reason."""


class Typed(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# -- process commands -----------------------------------------------------------------------
class StartExisting(Typed):
    """Start a declared process (or a built-in service) again: no arguments at all."""


class StartTrial(Typed):
    kind: Literal["trial"]
    study: Slug
    trial: Annotated[StrictInt, Field(ge=0, le=10_000_000)]
    timeframe: Timeframe
    device: Annotated[str, S(pattern=DEVICE_RE)] | None = None

    @property
    def process_name(self) -> str:  # engine.study.runner.worker_name
        return f"trial-{self.study}-{self.trial}"[:64]

    def process(self) -> tuple[str, list[str]]:
        argv = ["worker", "--study", self.study, "--trial", str(self.trial),
                "--timeframe", self.timeframe]
        return "trial", argv + (["--device", self.device] if self.device else [])


class StartDemo(Typed):
    kind: Literal["demo"]
    process_name: ClassVar[str] = "demo"

    def process(self) -> tuple[str, list[str]]:
        return "demo", ["demo", "run"]


START_KINDS: dict[str, type[Typed]] = {"trial": StartTrial, "demo": StartDemo}


class StopArgs(Typed):
    reason: Note | None = None   # the monitor's auto-stop says why
    trader: Slug | None = None


class Train(Typed):
    """The shape; engine.study.request.train_request (shared with the CLI and the form)
    checks the values when the supervisor builds the argv."""

    study: Slug | None = None
    timeframe: Timeframe | None = None
    n_trials: Annotated[StrictInt, Field(ge=1, le=100_000)] | None = None
    device: Annotated[str, S(pattern=DEVICE_RE)] | None = None
    gpu: Gpu | None = None
    workers: Annotated[StrictInt, Field(ge=1, le=64)] | None = None


class Trade(Typed):
    """What a promotion asks the supervisor to start: every field the trader will use is
    explicit (nothing falls back to the config), so the supervisor can compare it with
    what was promoted."""

    name: Slug
    model: ModelRef
    broker: Literal["sim", "alpaca", "coinbase"]
    tickers: Annotated[list[Ticker], Field(min_length=1, max_length=32)]
    timeframe: Timeframe
    capital: Capital
    live: StrictBool = False
    study: Slug | None = None
    trial: Annotated[StrictInt, Field(ge=0)] | None = None
    backtest_sharpe: Annotated[float, Field(allow_inf_nan=False)] | None = None

    @property
    def process_name(self) -> str:
        return f"trader-{self.name}"

    def argv(self) -> list[str]:
        argv = ["trade", "--name", self.name, "--model", self.model, "--broker", self.broker,
                "--tickers", ",".join(self.tickers), "--timeframe", self.timeframe,
                "--capital", str(self.capital)]
        if self.study:
            argv += ["--study", self.study]
        return argv + (["--live"] if self.live else [])


# -- handler commands -----------------------------------------------------------------------
class Promote(Typed):
    to: Literal["paper", "live"]
    study: Slug | None = None
    trial: Annotated[StrictInt, Field(ge=0)] | None = None
    model: ModelRef | None = None
    trader: Slug | None = None
    name: Slug | None = None
    capital: Capital | None = None
    force: StrictBool = False
    reason: Text | None = None


class CapitalChange(Typed):
    trader: Slug | None = None
    capital: Capital
    force: StrictBool = False
    reason: Text | None = None


class TradingSwitch(Typed):
    """halt_all / resume: the target is a trader, or empty/"all" for every trader."""

    reason: Note | None = None
    direct: StrictBool = False  # the CLI already applied it (kill switch without supervisor)


class Exit(Typed):
    """exit: the target trader sells one ticker (or every position) to flat."""

    ticker: Ticker | None = None
    reason: Note | None = None


# action -> (args model, what the target must be)
Target = Literal["name", "name_or_all", "optional"]
SCHEMAS: dict[str, tuple[type[Typed] | None, Target]] = {
    "start": (None, "name"),  # the model depends on args.kind (START_KINDS)
    "stop": (StopArgs, "name_or_all"),
    "kill": (StopArgs, "name_or_all"),
    "restart": (StartExisting, "name"),
    "train": (Train, "optional"),
    "trade": (Trade, "optional"),
    "promote": (Promote, "optional"),
    "capital": (CapitalChange, "optional"),
    "halt_all": (TradingSwitch, "optional"),
    "resume": (TradingSwitch, "optional"),
    "exit": (Exit, "name"),
}


@dataclass(frozen=True)
class Command:
    """A validated row: what the supervisor executes."""

    id: int
    action: str
    target: str | None
    args: Typed


def _safe(text: object, limit: int = 32) -> str:
    """A name from the row, fit to quote in a reason: a short plain identifier (a key or
    an action such as "argv" or "exec"), else not shown (it may be a pasted secret)."""
    s = str(text)
    return s if re.fullmatch(rf"[A-Za-z_][A-Za-z0-9_]{{0,{limit - 1}}}", s) else "(not shown)"


def _errors(e: ValidationError) -> str:
    """One phrase per bad field; union branches (loc parts after the field) are folded."""
    found: dict[str, list[str]] = {}
    for err in e.errors(include_url=False, include_input=False):
        parts = [p for p in err["loc"] if isinstance(p, int)]
        head = next((p for p in err["loc"] if isinstance(p, str)), "args")
        loc = ".".join([_safe(head), *map(str, parts)])
        msg = "unknown argument" if err["type"] == "extra_forbidden" else err["msg"]
        found.setdefault(loc, []).append(msg)
    out = [f"{loc}: {msgs[0] if len(msgs) == 1 else 'none of the accepted forms'}"
           for loc, msgs in found.items()]
    return "; ".join(out[:5]) + (f" (+{len(out) - 5} more)" if len(out) > 5 else "")


def _target(action: str, rule: Target, target: object) -> str | None:
    if target is not None and not isinstance(target, str):
        raise Refused(f"{action}: target must be text")
    if rule == "optional" and not target:
        return target or None
    if rule == "name_or_all" and target == ALL:
        return target
    if not target or not re.fullmatch(SLUG_RE, target):
        raise Refused(f"{action}: target must be a process name (letters, digits, '_', '.', "
                      "'-', starting with a letter or digit)")
    return target


def _args(raw: object) -> dict[str, Any]:
    if isinstance(raw, dict):
        return raw
    try:
        value = json.loads(str(raw)) if raw not in (None, "") else {}
    except (ValueError, RecursionError):
        raise Refused("args: not valid JSON") from None
    if not isinstance(value, dict):
        raise Refused("args: must be a JSON object")
    return value


def _start_model(args: dict[str, Any]) -> type[Typed]:
    kind = args.get("kind")
    if kind is None:
        return StartExisting
    model = START_KINDS.get(kind) if isinstance(kind, str) else None
    if model is None:
        raise Refused(f"start: unknown kind {_safe(kind)!s}; expected one of "
                      f"{', '.join(sorted(START_KINDS))} (or none, for a declared process)")
    return model


def inside(folder: str | Path, path: str) -> bool:
    """Whether path resolves (links followed) inside folder."""
    root = Path(folder).resolve()
    try:
        Path(path).resolve().relative_to(root)
    except (ValueError, OSError, RuntimeError):
        return False
    return True


def check_model(cfg: Config, what: str, model: str | None) -> None:
    """ensemble:K, or model folders (comma separated) inside [paths] models."""
    if model is None or ENSEMBLE_RE.match(model):
        return
    parts = model.split(",")
    if len(parts) > 64 or any(not p or not inside(cfg.paths.models, p) for p in parts):
        raise Refused(f"{what}: model must be ensemble:K or folders inside [paths] models "
                      f"({Path(cfg.paths.models).resolve()})")


def parse(cfg: Config, command_id: int, action: object, target: object, args: object
          ) -> Command:
    """The typed command of a row, or Refused with the reason."""
    if not isinstance(action, str) or action not in SCHEMAS:
        raise Refused(f"unknown action {_safe(action)}; expected one of "
                      f"{', '.join(SCHEMAS)}")
    model, rule = SCHEMAS[action]
    name = _target(action, rule, target)
    raw = _args(args)
    if model is None:
        model = _start_model(raw)
    try:
        typed = model.model_validate(raw)
    except ValidationError as e:
        raise Refused(f"{action}: {_errors(e)}") from None
    if isinstance(typed, Trade):
        check_model(cfg, "trade", typed.model)
        if name not in (None, typed.process_name):
            raise Refused(f"trade: target must be {typed.process_name} (or empty)")
    elif isinstance(typed, Promote):
        check_model(cfg, "promote", typed.model)
    elif isinstance(typed, Train) and name and typed.study not in (None, name):
        raise Refused("train: target and study differ")
    elif action == "start" and getattr(typed, "process_name", name) != name:
        # Each kind has its own names: a worker can never take over "monitor" or a trader.
        raise Refused(f"start: a {getattr(typed, 'kind', '?')} process is named "
                      f"{getattr(typed, 'process_name', '?')}")
    return Command(command_id, action, name, typed)


def validate_request(cfg: Config, action: str, target: str | None,
                     args: dict[str, Any] | None) -> Command:
    """What the console and the CLI call before writing a row: the supervisor's own check."""
    return parse(cfg, 0, action, target, args or {})
