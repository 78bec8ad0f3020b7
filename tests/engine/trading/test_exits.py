"""Operator exits on the sim broker: the trader sells to flat through risk and the
executor, REDUCING meanwhile, then clears the request; and `cappuccino exit`."""

from __future__ import annotations

import sys
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from test_trader import EXTRA, make_trader  # noqa: E402

from engine.cli.main import main  # noqa: E402
from engine.config import Config  # noqa: E402
from engine.trading.control import request_exit  # noqa: E402
from store import trading as st  # noqa: E402


def holding(t, ticker: str) -> Decimal:  # noqa: ANN001
    return t.ledger.lot(ticker).qty


def test_flatten_sells_to_flat_then_trades_again(fast_config: Callable[..., Config],
                                                 tmp_path: Path) -> None:
    cfg = fast_config(EXTRA)
    cfg = cfg.model_copy(update={"conviction": cfg.conviction.model_copy(
        update={"enabled": False})})
    t, store = make_trader(cfg, tmp_path)
    for _ in range(60):  # until it holds both coins
        t.step(t.clock.last_closed_bar())
        t.broker.advance()  # type: ignore[attr-defined]
        t.reconcile()
        if all(holding(t, x) > 0 for x in t.s.tickers):
            break
    assert all(holding(t, x) > 0 for x in t.s.tickers), "the model never bought both"
    before = {o.client_order_id for o in st.list_orders(store, "t")}
    assert "every position" in request_exit(store, "t", None)
    t.poll()
    assert t.risk.state == "REDUCING"
    assert st.get_trader(store, "t").trading_state == "REDUCING"  # type: ignore[union-attr]
    for _ in range(40):
        t.step(t.clock.last_closed_bar())
        t.broker.advance()  # type: ignore[attr-defined]
        t.reconcile()
        if st.exit_request(store, "t") is None:
            break
    assert st.exit_request(store, "t") is None, "the exit never finished"
    assert all(holding(t, x) == 0 for x in t.s.tickers)
    new = [o for o in st.list_orders(store, "t") if o.client_order_id not in before]
    assert new and {o.side for o in new} == {"SELL"}  # no buy while exiting
    bal = t.broker.balances()
    assert all(bal.get(x.split("-")[0]) is None or bal[x.split("-")[0]].total == 0
               for x in t.s.tickers)  # the exchange agrees: flat
    t.poll()
    # No longer held by the exit (the sells may have started a losing-streak pause: the
    # risk engine counts them like any closed trade).
    assert t.risk.s.reason != "operator exit: selling to flat"
    assert t.risk.state == "ACTIVE" or "losing trades" in t.risk.s.reason


def test_exit_cli_records_the_request_and_refuses_bad_input(
        fast_config: Callable[..., Config], config_path: Path, tmp_path: Path,
        capsys) -> None:  # noqa: ANN001
    cfg = fast_config(EXTRA)
    config_path.write_text(f'[store]\npath = "{cfg.store.path}"\n')
    make_trader(cfg, tmp_path)[1].close()
    assert main(["--config", str(config_path), "exit", "--trader", "t", "--ticker",
                 "BTC-USD"]) == 0
    assert "sell its BTC-USD position" in capsys.readouterr().out
    store = make_trader.__globals__["Store"](cfg.store.path)
    req = st.exit_request(store, "t")
    assert req is not None and req.tickers == ("BTC-USD",)
    row = store.one("SELECT action, target, args, state, source FROM commands")
    assert (row["action"], row["target"], row["state"], row["source"]) == (
        "exit", "t", "done", "cli")
    store.close()
    assert main(["--config", str(config_path), "exit", "--trader", "ghost"]) == 2
    assert capsys.readouterr().err.strip() == ("cappuccino: exit: no trader named 'ghost' "
                                               "(traders: t)")
    assert main(["--config", str(config_path), "exit", "--trader", "t", "--ticker",
                 "btc; rm"]) == 2
    # A well-formed ticker the trader does not trade: refused, nothing asked of the trader.
    capsys.readouterr()
    assert main(["--config", str(config_path), "exit", "--trader", "t", "--ticker",
                 "DOGE-USD"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("cappuccino: exit: trader t does not trade DOGE-USD (it trades: ")
    store = make_trader.__globals__["Store"](cfg.store.path)
    req = st.exit_request(store, "t")
    assert req is not None and req.tickers == ("BTC-USD",)
    store.close()
