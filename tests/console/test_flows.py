"""Every key flow, driven with Textual's pilot against a real store. No supervisor runs here:
the assertions are on the commands table, the console's only write."""

from __future__ import annotations

from typing import Any

from textual.widgets import Button, DataTable, Input, Static

from console.app import CappuccinoApp
from console.screens.confirm import ConfirmScreen
from console.screens.promote import ChangeCapitalScreen, PromoteLiveScreen, PromotePaperScreen
from store.commands import finish_command
from store.db import Store
from widgets.line_table import LineTable


async def ready(pilot: Any) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def settle(pilot: Any) -> None:
    # Gate computation and command inserts run in worker threads.
    for _ in range(3):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()


def select_row(app: CappuccinoApp, table_id: str, key: str) -> None:
    table = app.query_one(f"#{table_id}")
    if isinstance(table, LineTable):
        keys = table.row_keys
    else:
        assert isinstance(table, DataTable)
        keys = [k.value for k in table.rows]
    table.move_cursor(row=keys.index(key))


async def test_promote_trial_with_passing_gates_queues_a_command(env: Any) -> None:
    app = env.app()
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot)
        select_row(app, "trials-table", "7:0")
        await pilot.press("p")
        await settle(pilot)
        assert isinstance(app.screen, PromotePaperScreen)
        verdict = str(app.screen.query_one("#verdict", Static).render())
        assert "All gates pass" in verdict
        await pilot.press("enter")
        await settle(pilot)
    cmds = env.commands()
    assert [(c["action"], c["source"], c["args"]) for c in cmds] == [
        ("promote", "console", {"to": "paper", "study": "btc-5m", "trial": 7})]


async def test_promote_trial_with_refusing_gate_shows_refusal_and_queues_nothing(env: Any) -> None:
    app = env.app()
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot)
        select_row(app, "trials-table", "2:0")  # objective -0.0831
        await pilot.press("p")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, PromotePaperScreen)
        verdict = str(screen.query_one("#verdict", Static).render())
        assert "Refused" in verdict and "CPCV objective" in verdict
        assert screen.query_one("#ok", Button).disabled
        await pilot.click("#ok")
        await settle(pilot)
        assert app.screen is screen  # a disabled button does nothing
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, PromotePaperScreen)
    assert env.commands() == []


async def test_failed_trial_is_refused(env: Any) -> None:
    app = env.app()
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot)
        select_row(app, "trials-table", "11:1")
        await pilot.press("p")
        await settle(pilot)
        verdict = str(app.screen.query_one("#verdict", Static).render())
        assert "trial completed" in verdict
    assert env.commands() == []


async def test_promote_ensemble(env: Any) -> None:
    app = env.app()
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot)
        await pilot.press("E")
        await pilot.pause()
        await pilot.press("backspace", "2", "enter")
        await settle(pilot)
        assert isinstance(app.screen, PromotePaperScreen)
        await pilot.press("enter")
        await settle(pilot)
    assert [c["args"] for c in env.commands()] == [
        {"to": "paper", "study": "btc-5m", "model": "ensemble:2"}]


async def test_promote_live_needs_gates_capital_and_typed_confirmation(env: Any) -> None:
    app = env.app()
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot)
        await pilot.press("4")
        select_row(app, "traders-table", "paper-1")
        await pilot.press("L")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, PromoteLiveScreen)
        assert screen.report.passed, screen.report
        error = screen.query_one("#form-error", Static)
        screen.query_one("#capital", Input).value = "1500"  # above the first capital step
        await pilot.press("enter")  # capital -> confirmation field
        await pilot.press(*"LIVE", "enter")
        await settle(pilot)
        assert "first capital step" in str(error.render())
        screen.query_one("#capital", Input).value = "800"
        screen.query_one("#confirm", Input).value = "paper-2"  # the wrong name: refused
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, PromoteLiveScreen)
        assert "to confirm" in str(error.render())
        assert env.commands() == []
        screen.query_one("#confirm", Input).value = "LIVE"
        screen.query_one("#confirm", Input).focus()
        await pilot.press("enter")
        await settle(pilot)
    assert [(c["action"], c["target"], c["args"]) for c in env.commands()] == [
        ("promote", "paper-1", {"to": "live", "trader": "paper-1", "capital": "800"})]


async def test_promote_live_refused_for_young_trader_with_critical_alert(env: Any) -> None:
    app = env.app()
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot)
        await pilot.press("4")
        select_row(app, "traders-table", "paper-2")
        await pilot.press("L")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, PromoteLiveScreen)
        refused = {g.name for g in screen.report.refused}
        assert {"hours on paper", "critical alerts on paper"} <= refused
        assert "Refused" in str(screen.query_one("#verdict", Static).render())
        assert not screen.query("#confirm")  # no way to confirm a refused promotion
        await pilot.press("escape")
    assert env.commands() == []


async def test_kill_with_confirm_queues_kill(env: Any) -> None:
    app = env.app()
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot)
        await pilot.press("3")
        select_row(app, "procs-table", "trial-0")
        await pilot.press("K")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await settle(pilot)
    assert [(c["action"], c["target"]) for c in env.commands()] == [("kill", "trial-0")]


async def test_kill_cancelled_queues_nothing(env: Any) -> None:
    app = env.app()
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot)
        await pilot.press("3")
        select_row(app, "procs-table", "trial-0")
        await pilot.press("K")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        await pilot.press("k")
        await pilot.press("escape")
        await pilot.press("r")
        await pilot.press("enter")  # the focused button is Cancel
        await settle(pilot)
        assert not isinstance(app.screen, ConfirmScreen)
    assert env.commands() == []


async def test_stop_and_restart_with_confirm(env: Any) -> None:
    app = env.app()
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot)
        await pilot.press("3")
        select_row(app, "procs-table", "monitor")
        await pilot.press("k", "y")
        await settle(pilot)
        await pilot.press("r", "y")
        await settle(pilot)
    assert [(c["action"], c["target"]) for c in env.commands()] == [
        ("stop", "monitor"), ("restart", "monitor")]


async def test_kill_switch_halts_all_after_confirm(env: Any) -> None:
    app = env.app()
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot)
        await pilot.press("x")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        await settle(pilot)
        assert env.commands() == []
        await pilot.press("x", "y")
        await settle(pilot)
    assert [(c["action"], c["target"]) for c in env.commands()] == [("halt_all", None)]


async def test_start_study_form(env: Any) -> None:
    app = env.app()
    async with app.run_test(size=(100, 40)) as pilot:
        await ready(pilot)
        await pilot.press("s")
        await pilot.pause()
        form = app.screen
        form.query_one("#name", Input).value = "bad name!"
        form.query_one("#n_trials", Input).value = "12"
        form.query_one("#name", Input).focus()
        await pilot.press("enter")
        await pilot.pause()
        assert "study:" in str(form.query_one("#form-error", Static).render())
        form.query_one("#name", Input).value = "eth-1h"
        await pilot.press("enter")
        await settle(pilot)
    assert [(c["action"], c["args"]) for c in env.commands()] == [
        ("train", {"study": "eth-1h", "timeframe": "5m", "n_trials": 12, "device": "auto"})]


def _make_live(env: Any, trader: str) -> None:
    # Capital moves on live traders only; the fixture's traders are on paper.
    with Store(env.db) as st, st.write():
        st.conn.execute("UPDATE traders SET mode = 'live' WHERE name = ?", (trader,))


async def _change_capital(pilot: Any, app: CappuccinoApp, trader: str, amount: str) -> None:
    await pilot.press("4")
    select_row(app, "traders-table", trader)
    await pilot.press("c")
    await pilot.pause()
    app.screen.query_one("#capital", Input).value = amount
    await pilot.press("enter")
    await settle(pilot)


async def test_change_capital_shows_passing_gates_then_queues(env: Any) -> None:
    _make_live(env, "paper-1")
    app = env.app()
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot)
        await pilot.press("4")
        select_row(app, "traders-table", "paper-1")
        await pilot.press("c")
        await pilot.pause()
        box = app.screen.query_one("#capital", Input)
        box.value = "-5"
        await pilot.press("enter")
        await settle(pilot)
        assert not isinstance(app.screen, ChangeCapitalScreen)  # the form said no
        assert env.commands() == []
        box.value = "800"  # lowering capital needs no track record
        await pilot.press("enter")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ChangeCapitalScreen)
        assert screen.report.passed, screen.report
        assert {g.name for g in screen.report.gates} >= {"live trader"}
        assert "All gates pass" in str(screen.query_one("#verdict", Static).render())
        assert env.commands() == []  # nothing is sent before the confirmation
        await pilot.press("enter")
        await settle(pilot)
    assert [(c["action"], c["target"], c["args"]) for c in env.commands()] == [
        ("capital", "paper-1", {"trader": "paper-1", "capital": "800"})]


async def test_change_capital_refused_by_gates_queues_nothing(env: Any) -> None:
    _make_live(env, "paper-1")
    app = env.app()
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot)
        await _change_capital(pilot, app, "paper-1", "2000")  # the next step, no profitable week
        screen = app.screen
        assert isinstance(screen, ChangeCapitalScreen)
        refused = [g.name for g in screen.report.refused]
        assert refused == ["profitable live weeks at this step"], screen.report
        verdict = str(screen.query_one("#verdict", Static).render())
        assert "Refused" in verdict and "profitable live weeks" in verdict
        assert screen.query_one("#ok", Button).disabled
        await pilot.click("#ok")
        await pilot.press("enter")
        await settle(pilot)
        assert env.commands() == []
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen is app.screen_stack[0]
        # A paper trader's capital does not move: the first gate says why.
        await _change_capital(pilot, app, "paper-2", "900")
        assert [g.name for g in app.screen.report.refused] == ["live trader"]
        await pilot.press("escape")
    assert env.commands() == []


async def test_readonly_keys_do_nothing(env: Any) -> None:
    app = env.app(readonly=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot)
        await pilot.press("3")
        select_row(app, "procs-table", "trial-0")
        await pilot.press("4")
        select_row(app, "traders-table", "paper-1")
        for key in ("s", "p", "E", "L", "c", "k", "K", "r", "x"):
            await pilot.press(key)
            await pilot.press("y")
            await settle(pilot)
            assert app.screen is app.screen_stack[0], key
        footer_keys = {b.key for _, b, enabled, _ in app.active_bindings.values() if enabled}
        assert not footer_keys & {"s", "p", "L", "c", "k", "K", "r", "x"}
        assert "READ-ONLY" in str(app.query_one("#status", Static).render())
    assert env.commands() == []


async def test_command_outcome_shows_as_notification(env: Any) -> None:
    app = env.app()
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        await ready(pilot)
        await pilot.press("x", "y")
        await settle(pilot)
        (cid,) = list(app.pending)
        with Store(env.db) as st:
            finish_command(st, cid, False, "supervisor: 2 traders halted, 1 failed")
        app.refresh_data()
        await settle(pilot)
        assert app.pending == {}
        messages = [n.message for n in app._notifications]
        assert any("1 failed" in m for m in messages), messages


async def test_filter_keeps_matching_rows(env: Any) -> None:
    app = env.app()
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot)
        table = app.query_one("#trials-table", LineTable)
        total = table.row_count
        await pilot.press("slash", *"failed", "enter")
        await pilot.pause()
        states = [table.get_row_at(i)[2] for i in range(table.row_count)]
        assert states and set(states) == {"FAILED"} and len(states) < total
        await pilot.press("slash")
        app.query_one("#filter", Input).value = ""
        await pilot.press("enter")
        await pilot.pause()
        assert table.row_count == total


async def test_log_viewer_follow_and_search(env: Any) -> None:
    from widgets.log_viewer import LogViewer

    app = env.app()
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot)
        await pilot.press("3")
        select_row(app, "procs-table", "monitor")
        await pilot.press("l")
        await settle(pilot)
        viewer = app.screen.query_one(LogViewer)
        assert viewer.lines_shown[-1].endswith("last line of monitor")
        await pilot.press("slash", *"step 1", "enter")
        await pilot.pause()
        shown = viewer.lines_shown
        assert shown and all("step 1" in ln for ln in shown)
        await pilot.press("f")
        assert viewer.follow is False
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is app.screen_stack[0]


async def test_missing_store_shows_a_line_not_a_crash(env: Any, tmp_path: Any) -> None:
    from console.bench import T0
    from console.data import Loader

    loader = Loader(tmp_path / "nowhere.db", clock=lambda: T0)
    app = CappuccinoApp(env.cfg, clock=lambda: T0, loader=loader, autorefresh=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        assert "store not found" in str(app.query_one("#status", Static).render())
    assert not (tmp_path / "nowhere.db").exists()


async def test_help_lists_keys(env: Any) -> None:
    app = env.app()
    async with app.run_test(size=(100, 40)) as pilot:
        await ready(pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        text = " ".join(str(s.render()) for s in app.screen.query(Static))
        assert "kill switch" in text and "promote" in text
        await pilot.press("escape")


async def test_gpu_pane_says_clearly_when_there_is_no_gpu(env: Any) -> None:
    from console.bench import T0

    with Store(env.db) as st, st.write():
        st.conn.execute("DELETE FROM gpu_samples")
        st.conn.execute("DELETE FROM gpu_process_samples")
        st.conn.execute("INSERT INTO system_samples (at, cpu_pct, ram_used_mb, ram_total_mb, "
                        "disk_used_mb, disk_total_mb, gpu_status, resolution) VALUES "
                        "(?, 5, 100, 1000, 10, 100, 'NVML library not found', 5)", (T0 + 1,))
    app = env.app()
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        await pilot.press("2")
        await pilot.pause()
        text = str(app.query_one("#gpu-status", Static).render())
        assert "No NVIDIA GPU" in text and "NVML library not found" in text


async def test_switch_study(env: Any) -> None:
    from console.bench import STUDIES, T0

    with Store(env.db) as st, st.write():
        st.conn.execute(STUDIES + "VALUES ('eth-1h', 'journal', '1h', 5, NULL, NULL, NULL, ?, ?)",
                        (T0 - 86400, T0 - 86400))
        st.conn.execute("INSERT INTO attempts (study, trial, attempt, state, started_at) "
                        "VALUES ('eth-1h', 0, 0, 'FAILED', ?)", (T0,))
    app = env.app()
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot)
        assert app.snapshot.study.name == "btc-5m"
        assert set(app.snapshot.studies) == {"btc-5m", "eth-1h"}
        await pilot.press("t")
        await settle(pilot)
        assert app.snapshot.study.name == "eth-1h" and app.snapshot.counts.failed == 1
        table = app.query_one("#trials-table", LineTable)
        assert table.row_keys == ["0:0"]


async def test_report_and_log_screens_own_the_keys(env: Any) -> None:
    from console.screens.logs import LogScreen
    from console.screens.report import ReportScreen

    app = env.app()
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot)
        await pilot.press("4")
        await pilot.press("R")
        await settle(pilot)
        report = app.screen
        assert isinstance(report, ReportScreen)
        for key in ("x", "k", "K", "r", "s", "c", "L", "p", "E", "1", "question_mark", "l"):
            await pilot.press(key)
            await settle(pilot)
            assert app.screen is report, key  # no kill switch, no dialog over the report
        shown = {b.key for _, b, enabled, _ in app.active_bindings.values() if enabled}
        assert not shown & {"x", "k", "K", "s", "c", "p", "L"}
        titles = {c.title for c in app.get_system_commands(report)}
        assert "HALT all traders" not in titles and "Quit" in titles
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen is app.screen_stack[0]
        await pilot.press("3")
        select_row(app, "procs-table", "monitor")
        await pilot.press("l")
        await settle(pilot)
        assert isinstance(app.screen, LogScreen)
        await pilot.press("K", "y", "x", "y")
        await settle(pilot)
        assert isinstance(app.screen, LogScreen)
        await pilot.press("escape")
        await settle(pilot)
        await pilot.press("x")  # back on the main screen, the keys work again
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("q")  # q on a dialog does not quit the console
        await settle(pilot)
        assert app.is_running and isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
    assert env.commands() == []


async def test_ctrl_q_quits_from_the_report_screen(env: Any) -> None:
    from console.screens.report import ReportScreen

    app = env.app()
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot)
        await pilot.press("4", "R")
        await settle(pilot)
        assert isinstance(app.screen, ReportScreen)
        await pilot.press("ctrl+q")
        await pilot.pause()
        assert app.return_code == 0  # None until the app exits


async def test_exit_and_flatten_become_exit_commands(env: Any) -> None:
    from console.screens.confirm import ConfirmScreen

    app = env.app()
    async with app.run_test(size=(100, 40)) as pilot:
        await ready(pilot)
        await pilot.press("4")
        await settle(pilot)
        app.query_one("#positions-table").select_key("paper-1:ETH-USD")
        await pilot.press("f")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await settle(pilot)
        app.query_one("#traders-table").select_key("paper-2")
        await pilot.press("F")
        await settle(pilot)
        await pilot.press("n")  # cancelled: nothing sent
        await settle(pilot)
        await pilot.press("F", "y")
        await settle(pilot)
    assert [(c["action"], c["target"], c["args"]) for c in env.commands()] == [
        ("exit", "paper-1", {"ticker": "ETH-USD"}), ("exit", "paper-2", {})]
