"""Gate previews: the engine's plan when present, and the local fallback agrees with it."""

from __future__ import annotations

from typing import Any

from console.bench import T0
from console.gates import (
    capital_gates,
    live_gates,
    local_capital_gates,
    local_live_gates,
    local_paper_gates,
    paper_gates,
)
from store.db import Store


def test_paper_gates_pass_and_refuse(env: Any) -> None:
    with Store(env.db) as st:
        good = paper_gates(st, env.cfg, "btc-5m", 7, now=T0)
        bad = paper_gates(st, env.cfg, "btc-5m", 2, now=T0)
        failed = paper_gates(st, env.cfg, "btc-5m", 11, now=T0)
        missing = paper_gates(st, env.cfg, "btc-5m", 99, now=T0)
        ens = paper_gates(st, env.cfg, "btc-5m", None, 3, now=T0)
        too_many = paper_gates(st, env.cfg, "btc-5m", None, 50, now=T0)
    assert good.passed and ens.passed
    # a negative objective, and noise on the deflated evidence (tests/console/conftest.py)
    refused = [g.name for g in bad.refused]
    assert refused[0] == "CPCV objective" and "deflated Sharpe ratio" in refused
    assert not failed.passed and not missing.passed and not too_many.passed


def test_local_fallback_agrees_with_the_engine(env: Any) -> None:
    with Store(env.db) as st:
        for trial in (7, 2, 11, 99):
            assert (local_paper_gates(st, env.cfg, "btc-5m", trial).passed
                    == paper_gates(st, env.cfg, "btc-5m", trial, now=T0).passed)
        assert local_paper_gates(st, env.cfg, "btc-5m", None, 3).passed
        for trader in ("paper-1", "paper-2"):
            local = local_live_gates(st, env.cfg, trader, T0)
            engine = live_gates(st, env.cfg, trader, T0)
            assert local.passed == engine.passed, (local, engine)
        assert not local_live_gates(st, env.cfg, "nobody", T0).passed
        assert not live_gates(st, env.cfg, "nobody", T0).passed  # one clear refusal


def test_capital_gates_come_from_the_engines_plan(env: Any) -> None:
    with Store(env.db) as st:
        paper = capital_gates(st, env.cfg, "paper-1", 900.0, T0)
        with st.write():
            st.conn.execute("UPDATE traders SET mode = 'live' WHERE name = 'paper-1'")
        lower = capital_gates(st, env.cfg, "paper-1", 900.0, T0)
        step = capital_gates(st, env.cfg, "paper-1", 2000.0, T0)
        beyond = capital_gates(st, env.cfg, "paper-1", 2500.0, T0)
        nobody = capital_gates(st, env.cfg, "nobody", 900.0, T0)
        local_paper = local_capital_gates(st, "paper-2")
        local_live = local_capital_gates(st, "paper-1")
    assert [g.name for g in paper.refused] == ["live trader"]
    assert lower.passed
    # 72 hours at this capital: not yet the profitable week the next step needs.
    assert [g.name for g in step.refused] == ["profitable live weeks at this step"]
    assert "next capital step" in {g.name for g in beyond.refused}
    assert not nobody.passed and "nobody" in str(nobody.gates[0].value)
    assert not local_paper.passed and local_live.passed
