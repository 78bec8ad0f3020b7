"""A study shared by several hosts: other hosts' trials, mirrored into this store, in the
Trials pane (where each ran, running bars, counts) and through the `p` promote flow.

The fixture store (console.bench.populate) holds trials 0-13 run here on gpu-a and
trials 14-19 mirrored from gpu-b and gpu-c by store.registry.upsert_remote_trials, the study
driver's own write path.
"""

from __future__ import annotations

from typing import Any

from textual.widgets import ProgressBar, Static

from console.screens.promote import PromotePaperScreen
from store import registry
from store.db import Store
from widgets.line_table import LineTable
from widgets.trials import RunningTrial

from .test_flows import ready, select_row, settle


def _mirror(env: Any, trial: int, state: str, progress: float, **kw: Any) -> None:
    with Store(env.db) as st:
        registry.upsert_remote_trials(st, [registry.RemoteTrial(
            study="btc-5m", trial=trial, state=state, host="gpu-b", params={},
            objective=kw.pop("objective", None), progress=progress, started_at=0.0,
            ended_at=None, device="cuda:1", **kw)])


def _bars(app: Any) -> dict[str, float]:
    return {b._label: round(b.query_one(ProgressBar).progress, 6)
            for b in app.query(RunningTrial)}


async def test_trials_pane_at_80_columns_shows_where_each_trial_ran(env: Any) -> None:
    app = env.app()
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        assert "3 hosts" in str(app.query_one("#trials-summary", Static).render())
        counts = app.snapshot.counts
        assert (counts.running, counts.complete, counts.failed, counts.pruned) == (4, 11, 2, 3)
        table = app.query_one("#trials-table", LineTable)
        assert "host" in table.columns and "device" not in table.columns
        host = table.columns.index("host")
        assert {k: table.get_row(k)[host] for k in ("14:1", "15:1", "7:0")} == {
            "14:1": "gpu-b", "15:1": "gpu-c", "7:0": "gpu-a"}
        # Every visible column fits the pane: nothing hides behind a horizontal scroll.
        assert table.virtual_size.width <= table.size.width
        # Running trials of every host get a bar, filled from the mirrored progress.
        assert _bars(app) == {"trial 12 gpu-a cuda:0": 35.0, "trial 13 gpu-a cpu": 55.0,
                              "trial 18 gpu-b cuda:1": 80.0, "trial 19 gpu-c cuda:0": 15.0}


async def test_mirrored_running_trial_bar_and_counts_follow_the_mirror(env: Any) -> None:
    app = env.app()
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot)
        _mirror(env, 18, "RUNNING", 0.9)  # the driver's next poll: gpu-b checkpointed
        app.refresh_data()
        await settle(pilot)
        assert _bars(app)["trial 18 gpu-b cuda:1"] == 90.0
        _mirror(env, 18, "COMPLETE", 1.0, objective=0.05, model_path="models/btc-5m/18")
        app.refresh_data()
        await settle(pilot)
        assert "trial 18 gpu-b cuda:1" not in _bars(app)  # finished: its bar is gone
        counts = app.snapshot.counts
        assert (counts.running, counts.complete) == (3, 12)
        table = app.query_one("#trials-table", LineTable)
        assert table.get_row("18:1")[2] == "COMPLETE"


async def _promote(env: Any, key: str) -> tuple[Any, str]:
    """Select a row, press p; the gate report, and what the modal says."""
    app = env.app()
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot)
        select_row(app, "trials-table", key)
        await pilot.press("p")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, PromotePaperScreen)
        verdict = str(screen.query_one("#verdict", Static).render())
        if screen.report.passed:
            await pilot.press("enter")
            await settle(pilot)
        return screen.report, verdict


async def test_promote_mirrored_trial_whose_model_is_registered_here(env: Any) -> None:
    report, verdict = await _promote(env, "14:1")  # gpu-b's trial; its models row is here
    assert report.passed and "All gates pass" in verdict
    assert {g.name: g.value for g in report.gates}["model saved"] == "yes"
    assert [(c["action"], c["args"]) for c in env.commands()] == [
        ("promote", {"to": "paper", "study": "btc-5m", "trial": 14})]


async def test_promote_mirrored_running_trial_is_refused(env: Any) -> None:
    report, verdict = await _promote(env, "18:1")
    assert {g.name for g in report.refused} >= {"trial completed", "model saved"}
    assert "Refused" in verdict
    assert env.commands() == []


async def test_promote_mirrored_trial_that_published_no_model_is_refused(env: Any) -> None:
    _mirror(env, 20, "COMPLETE", 1.0, objective=0.3)  # gpu-b said nothing of a model
    report, verdict = await _promote(env, "20:1")
    # nothing of it is here: no model, and no out-of-sample evidence either
    assert [g.name for g in report.refused] == ["model saved", "study evidence"]
    assert "model saved" in verdict
    assert env.commands() == []


async def test_promote_mirrored_trial_whose_model_is_not_here_is_refused(env: Any) -> None:
    # gpu-c's trial 17 names its model path, but the model is not readable on this host, so
    # the mirror registered no models row: the trader could not load it.
    report, _ = await _promote(env, "17:1")
    assert [g.name for g in report.refused] == ["model saved", "study evidence"]
    assert env.commands() == []
