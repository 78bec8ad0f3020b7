"""Each promotion gate passes and refuses on the right side of its threshold."""

from __future__ import annotations

import pytest

from engine.config.schema import GatesSection
from engine.gates import (
    CapitalFacts,
    PaperFacts,
    TrialFacts,
    capital_gates,
    failed,
    live_gates,
    paper_gates,
    starting_capital_gate,
)

G = GatesSection()


def names(gates) -> list[str]:
    return [g.name for g in failed(gates)]


def trial(state: str = "COMPLETE", objective: float | None = 0.3, model: str | None = "m"):
    return TrialFacts("s", 1, state, objective, model)


def test_trial_to_paper() -> None:
    assert names(paper_gates(G, [trial()])) == []
    assert names(paper_gates(G, [trial(state="FAILED")])) == ["trial completed"]
    assert names(paper_gates(G, [trial(objective=0.0)])) == ["CPCV objective"]  # > 0, not >=
    assert names(paper_gates(G, [trial(objective=None, model=None)])) == [
        "CPCV objective", "model saved"]
    assert set(names(paper_gates(G, []))) == {"trial completed", "CPCV objective", "model saved"}
    g = paper_gates(GatesSection(paper_min_objective=0.5), [trial(objective=0.4)])
    assert g[1].threshold == "> 0.5" and not g[1].passed


def test_ensemble_to_paper() -> None:
    assert names(paper_gates(G, [trial(), trial(objective=0.1)], want=2)) == []
    assert names(paper_gates(G, [trial()], want=2)) == ["completed trials with a model"]
    g = paper_gates(G, [trial(), trial(objective=-0.2)], want=2)
    assert names(g) == ["worst CPCV objective"] and g[1].value == -0.2


def paper(**kw) -> PaperFacts:
    base = dict(trader="p", mode="paper", hours=50.0, sharpe=0.5, returns=600, severe_alerts=0,
                trades_per_day=3.0)
    return PaperFacts(**{**base, **kw})


@pytest.mark.parametrize(("kw", "fails"), [
    ({}, []),
    ({"mode": "live"}, ["trader on paper"]),
    ({"hours": 47.9}, ["hours on paper"]),
    ({"hours": 48.0}, []),
    ({"sharpe": 0.1}, ["paper Sharpe"]),
    ({"sharpe": None}, ["paper Sharpe"]),
    ({"severe_alerts": 1}, ["critical alerts on paper"]),
    ({"trades_per_day": 1.9}, ["trades per day"]),
    ({"trades_per_day": 5.1}, ["trades per day"]),
    ({"trades_per_day": 5.0}, []),
])
def test_paper_to_live(kw, fails) -> None:
    assert names(live_gates(G, paper(**kw))) == fails


def test_starting_capital() -> None:
    assert starting_capital_gate(G, 1000.0).passed
    assert not starting_capital_gate(G, 1500.0).passed


def cap(current: float, weeks: int, mode: str = "live") -> CapitalFacts:
    return CapitalFacts("t", mode, current, weeks, weeks)


def test_capital_steps() -> None:
    assert names(capital_gates(G, cap(1000, 1), 2000)) == []            # one profitable week
    assert names(capital_gates(G, cap(1000, 0), 2000)) == ["profitable live weeks at this step"]
    assert names(capital_gates(G, cap(1000, 5), 3000)) == ["next capital step"]  # no skipping
    assert names(capital_gates(G, cap(2000, 1), 3000)) == ["profitable live weeks at this step"]
    assert names(capital_gates(G, cap(2000, 2), 3000)) == []            # two more weeks
    assert names(capital_gates(G, cap(3000, 9), 4000)) == ["next capital step"]  # last step
    assert names(capital_gates(G, cap(3000, 0), 500)) == []             # lowering: always
    assert names(capital_gates(G, cap(500, 0), 1000)) == []             # up to the first step
    assert names(capital_gates(G, cap(1000, 3, mode="paper"), 2000)) == ["live trader"]
    g = capital_gates(G, cap(1000, 0), 2000)
    assert [x.to_json()["threshold"] for x in g] == ["live", "<= 2000", ">= 1"]


def test_evidence_gates_name_each_failing_number() -> None:
    from engine.gates import EvidenceFacts, evidence_gates

    base = {"cash": 0.5, "hodl": -1.0, "equal_weight": 0.0, "static_tilt": 0.9}
    good = EvidenceFacts(7, dsr=0.97, pbo=0.1, holdout_lo=0.4, objective=1.2, baselines=base)
    assert names(evidence_gates(G, good)) == []
    bad = EvidenceFacts(7, dsr=0.5, pbo=0.45, holdout_lo=-2.0, objective=0.95, baselines=base)
    failed = {g.name: g for g in evidence_gates(G, bad) if not g.passed}
    assert set(failed) == {"deflated Sharpe ratio", "PBO", "held-out active Sharpe 95% low",
                           "objective over static tilt"}  # 0.95 - 0.9 is below the 0.1 margin
    assert failed["PBO"].describe() == "PBO: 0.45 (needs <= 0.2) FAILED"
    assert failed["objective over static tilt"].value == 0.05
    # DSR exactly at the line passes (>=); PBO exactly at the line passes (<=)
    edge = EvidenceFacts(7, dsr=0.95, pbo=0.2, holdout_lo=0.01, objective=2.0, baselines=base)
    assert names(evidence_gates(G, edge)) == []
    # missing evidence or a missing figure is a refusal
    assert names(evidence_gates(G, None)) == ["study evidence"]
    none = EvidenceFacts(7, dsr=None, pbo=None, holdout_lo=None, objective=None,
                         baselines={"cash": None})
    assert len(names(evidence_gates(G, none))) == 4
    strict = GatesSection(paper_min_dsr=0.99)
    assert names(evidence_gates(strict, good)) == ["deflated Sharpe ratio"]
    assert names(paper_gates(G, [trial()], evidence=[None])) == ["study evidence"]
