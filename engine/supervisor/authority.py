"""Gates at the authority: what the supervisor checks before it starts a trader or moves money.

The row says what someone asked for; it is never proof. A `trade` command starts a trader
only when the store holds a recorded promotion of that very trader (passed, or forced with
a reason), the same `engine.promote.plan` the console and `promote --check` preview still
passes now (or the promotion was forced), the model and capital are the promoted ones,
and, for live (Coinbase), live trading is armed in the config and the credentials are in
the supervisor's environment or key file. Size limits are never forced: a live trader
never starts above the first capital step, and a capital raise never skips a step.

A trader row of `processes` starts (a start, a restart, `start NAME`, a row anyone wrote)
only as its trader's latest promotion of its kind recorded it (check_spawn).

Every refusal is recorded: the command's outcome ("refused: ..."), a WARNING alert with no
trader (the Alerts pane and `status --json`; it never counts against a trader's gates) and an
"alert" notification through the outbox. The row's `source` is only what the writer
claimed: it is logged as such and grants nothing.
"""

from __future__ import annotations

import json
import logging
from decimal import Decimal

from engine.config import Config
from engine.config.secrets import secrets_or_none
from engine.log_once import OnceLog
from engine.notify.redact import Redactor
from engine.supervisor.commands import ENSEMBLE_RE, CapitalChange, Promote, Refused, Trade
from store.alerts import insert_alert
from store.commands import finish_command
from store.db import Store, now
from store.promotions import PromotionRow, effective_promotions, last_capital_change

log = logging.getLogger("cappuccino.supervisor")
REFUSAL_NOTICES = OnceLog(log, "alerting a refused command")


def redact(cfg: Config, text: str) -> str:
    """Every known secret out of an outcome text (the row's values may hold one)."""
    return Redactor(secrets_or_none(cfg.secrets.key_file))(text)


def _promotion(store: Store, trader: str, kind: str) -> PromotionRow | None:
    """The trader's latest effective promotion of this kind: passed, or forced with a reason."""
    for row in effective_promotions(store, trader, kind):
        if row.passed or (row.forced and (row.reason or "").strip()):
            return row
    return None


def is_live(t: Trade) -> bool:
    return t.live or t.broker == "coinbase"


def check_armed(cfg: Config, what: str) -> None:
    if not cfg.coinbase.live_armed:
        raise Refused(f"{what}: live trading is not armed ([coinbase] live_armed = false in "
                      f"{cfg.source})")


def check_live(cfg: Config, what: str) -> None:
    """Armed in the config, and the credentials where the trader will find them."""
    check_armed(cfg, what)
    s = secrets_or_none(cfg.secrets.key_file)
    if not (s.coinbase_api_key and s.coinbase_api_secret):
        raise Refused(f"{what}: Coinbase credentials are missing (COINBASE_API_KEY, "
                      "COINBASE_API_SECRET or the key file)")


def check_trade(cfg: Config, store: Store, t: Trade) -> None:
    """Raise Refused unless this trader may start exactly as asked."""
    from engine.promote import PromotionError, Request, plan

    live = is_live(t)
    if live:
        if not t.live or t.broker != "coinbase":
            raise Refused("trade: live trading is Coinbase with live = true, both or neither")
        check_live(cfg, "trade")
    kind = "live" if live else "paper"
    promo = _promotion(store, t.name, kind)
    if promo is None:
        raise Refused(f"trade: no recorded {kind} promotion of trader {t.name} (use "
                      f"`cappuccino promote --to {kind}`)")
    recorded = last_capital_change(store, t.name) if live else promo
    if recorded is not None and recorded.capital is not None \
            and Decimal(recorded.capital) != t.capital:
        raise Refused(f"trade: capital {t.capital} differs from the promoted "
                      f"{recorded.capital} (promotion #{recorded.id})")
    if live:
        req = Request(to="live", trader=promo.subject, name=t.name, capital=float(t.capital))
    else:
        ens = ENSEMBLE_RE.match(t.model)
        req = Request(to="paper", study=t.study, trial=None if ens else t.trial,
                      model=t.model if ens else None, name=t.name, capital=float(t.capital))
    try:
        p = plan(cfg, store, req)
    except PromotionError as e:
        raise Refused(f"trade: {e}") from None
    promoted = p.trade_args or {}
    asked = {"name": t.name, "model": t.model, "broker": t.broker,
             "tickers": list(t.tickers), "timeframe": t.timeframe, "live": t.live}
    differ = [k for k, v in asked.items() if promoted.get(k) != v]
    if p.trader != t.name or differ:
        raise Refused(f"trade: {', '.join(differ) or 'name'} of trader {t.name} differ from "
                      f"what promotion #{promo.id} promoted")
    size = [g for g in p.gates if g.name == "starting capital" and not g.passed]
    if size:
        raise Refused(f"trade: {size[0].describe()} (a size limit is never forced)")
    if not p.passed and not promo.forced:
        names = ", ".join(g.name for g in p.gates if not g.passed)
        raise Refused(f"trade: the {kind} gates fail now ({names}) and promotion #{promo.id} "
                      "was not forced")


def check_promote(cfg: Config, store: Store, p: Promote) -> None:
    """Before engine.promote runs in the supervisor: what no --force may override."""
    if p.force and not (p.reason or "").strip():
        raise Refused("promote: --force needs a reason (the override is recorded)")
    if p.to == "live":
        check_armed(cfg, "promote --to live")


def check_capital(cfg: Config, store: Store, c: CapitalChange, target: str | None) -> None:
    """A capital change never skips a step, forced or not (engine.promote's own gates)."""
    from engine.promote import PromotionError, Request, plan

    trader = c.trader or target
    if not trader:
        raise Refused("capital: needs the trader")
    if c.force and not (c.reason or "").strip():
        raise Refused("capital: --force needs a reason (the override is recorded)")
    try:
        p = plan(cfg, store, Request(to="capital", trader=trader, capital=float(c.capital)))
    except PromotionError as e:
        raise Refused(f"capital: {e}") from None
    mode = [g.value for g in p.gates if g.name == "live trader" and not g.passed]
    if mode:
        # A paper trader runs with the capital it was promoted with; its next start would
        # put a changed one back, so a forced change would only be recorded, never real.
        raise Refused(f"capital: {trader} is a {mode[0]} trader: capital changes are for "
                      "live traders, even forced (promote to paper again with --capital)")
    step = [g for g in p.gates if g.name == "next capital step" and not g.passed]
    if step:
        raise Refused(f"capital: {step[0].describe()} (a step is never skipped, even forced)")


def record_refusal(cfg: Config, store: Store, command_id: int, action: str, source: object,
                   reason: str) -> str:
    """Outcome, alert and notification of a refused command; returns the recorded text."""
    from engine.notify.events import emit

    text = redact(cfg, f"refused: {reason}")
    finish_command(store, command_id, False, text)
    who = source if isinstance(source, str) and source.isidentifier() else "?"
    log.warning("command #%d (claimed source %s) %s", command_id, who, text)
    message = f"command #{command_id} ({_name(action)}) {text}"
    # The outcome is recorded; the alert and notice are best effort (a failure is logged).
    with REFUSAL_NOTICES.logged(f"command #{command_id} alert"):
        insert_alert(store, None, "WARNING", message, now())
    with REFUSAL_NOTICES.logged(f"command #{command_id} notification"):
        emit(store, cfg, "alert", f"Command #{command_id} refused", message, "failure")
    return text


def _name(action: object) -> str:
    s = str(action)
    return s[:20] if s.replace("_", "").isalnum() else "?"


# -- a trader row about to be spawned ---------------------------------------------------------
def _trade_of_argv(argv: list[str]) -> Trade:
    """The Trade whose argv() this is exactly; Refused for any other argv."""
    flags = ("--name", "--model", "--broker", "--tickers", "--timeframe", "--capital", "--study")
    opts: dict[str, object] = {}
    rest = list(argv[1:])
    not_built = Refused("spawn: a trader's arguments are not ones the supervisor builds")
    while rest:
        flag = rest.pop(0)
        if flag == "--live" and "live" not in opts:
            opts["live"] = True
        elif flag in flags and rest and flag[2:] not in opts:
            opts[flag[2:]] = rest.pop(0)
        else:
            raise not_built
    if isinstance(opts.get("tickers"), str):
        opts["tickers"] = str(opts["tickers"]).split(",")
    try:
        t = Trade.model_validate(opts)
    except ValueError:  # pydantic's ValidationError
        raise not_built from None
    if t.argv() != argv:
        raise not_built
    return t


def _promoted_trade(name: str, promo: PromotionRow) -> Trade | None:
    """What the promotion recorded it started (v0007); None for one recorded before."""
    if promo.trade_args is None:
        return None
    try:
        return Trade.model_validate(json.loads(promo.trade_args))
    except ValueError:  # bad JSON, or pydantic's ValidationError
        raise Refused(f"start {name}: promotion #{promo.id} records arguments the supervisor "
                      "cannot read") from None


def _check_promoted(name: str, t: Trade, promo: PromotionRow, *, live: bool) -> None:
    """The row's argv is the one the promotion started (a live trader's capital excepted:
    it moves by capital steps, checked against the last one). A promotion recorded before
    v0007 recorded no arguments: its trader's name and capital are checked, as before."""
    promoted = _promoted_trade(name, promo)
    if promoted is None:
        return
    fields = ("model", "broker", "tickers", "timeframe", "study", "live")
    differ = [f for f in (*fields, *(() if live else ("capital",)))
              if getattr(promoted, f) != getattr(t, f)]
    if differ:
        raise Refused(f"start {name}: {', '.join(differ)} differ from what promotion "
                      f"#{promo.id} promoted")


def check_spawn(cfg: Config, store: Store, name: str, kind: str, argv: list[str]) -> None:
    """Before a trader row's process starts (a command's start, a restart by policy, or a
    row someone wrote into `processes`): the exact argv the supervisor builds for a trade
    command, and the trader's latest recorded promotion of its kind (live on Coinbase, else
    paper) started that argv (the model, broker, tickers, timeframe and capital it recorded).
    A live trader also needs armed live trading and the credentials, and the capital it
    recorded (the promotion's, or the last capital change). Raises Refused. A trader started
    by hand (`cappuccino trade`) is no row: this never sees it."""
    from engine.supervisor.commands import check_model

    if kind != "trader" or argv[:1] != ["trade"]:
        return  # not a trader, or one spawn refuses (a trader runs `cappuccino trade`)
    t = _trade_of_argv(argv)  # the broker is named: no abbreviation, no config default
    live = is_live(t)
    if f"trader-{t.name}" != name or t.live != (t.broker == "coinbase"):
        raise Refused(f"spawn {name}: a trader's arguments are not ones the supervisor builds")
    if live:
        check_live(cfg, f"start {name}")
    check_model(cfg, "trade", t.model)
    promo = _promotion(store, t.name, "live" if live else "paper")
    if promo is None:
        raise Refused(f"start {name}: no recorded {'live' if live else 'paper'} promotion of "
                      f"trader {t.name}")
    _check_promoted(name, t, promo, live=live)
    recorded = (last_capital_change(store, t.name) or promo) if live else promo
    if recorded.capital is None or Decimal(recorded.capital) != t.capital:
        raise Refused(f"start {name}: capital {t.capital} is not the recorded "
                      f"{recorded.capital} (promotion #{recorded.id})")
    # Steps are never skipped, so no live capital lies above the last one, whatever a
    # (forged) capital row records.
    top = max(cfg.gates.capital_steps)
    if live and t.capital > Decimal(str(top)):
        raise Refused(f"start {name}: capital {t.capital} is above the last capital step "
                      f"{top:g}")


def may_spawn(cfg: Config, store: Store, name: str, kind: str, argv: list[str]) -> bool:
    """check_spawn; a refusal is recorded (refuse_spawn) and answered False."""
    try:
        check_spawn(cfg, store, name, kind, argv)
    except Refused as e:
        refuse_spawn(cfg, store, name, str(e))
        return False
    return True


def refuse_spawn(cfg: Config, store: Store, name: str, reason: str) -> None:
    """A refused spawn: the row goes FATAL (no restart), with an alert and a notification."""
    from engine.notify.events import emit
    from store.processes import update_process

    text = redact(cfg, f"refused: {reason}")
    update_process(store, name, state="FATAL", desired="stopped", pid=None,
                   last_error=text, next_start_at=None)
    log.warning("%s %s", name, text)
    with REFUSAL_NOTICES.logged(f"{name} alert"):
        insert_alert(store, None, "WARNING", f"{name} not started: {text}", now())
    with REFUSAL_NOTICES.logged(f"{name} notification"):
        emit(store, cfg, "alert", f"{name} not started", text, "failure")
