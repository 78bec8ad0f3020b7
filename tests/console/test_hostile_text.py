"""Text from outside (log lines, exchange errors, other hosts' trials) is shown, never obeyed.

Textual reads `[...]` in a Static's text as markup: `[@click=app.quit]` makes a region that
runs an app action when clicked, and an unbalanced `[/]` raises MarkupError, which ends the
console. A process's last log line holds whatever the process logged (an exchange's error
text, a Bot API description), so a real log file here carries both, and the console must
show them as plain text on the Processes pane and stay up.
"""

from __future__ import annotations

from typing import Any

from textual.widgets import Static

from widgets.line_table import LineTable

HOSTILE = "order refused: [@click=app.quit]click me[/] [/] [/b] [link=file:///etc/passwd]x"


async def test_a_hostile_log_line_is_plain_text_and_the_console_stays_up(env: Any) -> None:
    logs = sorted(env.logs.glob("*.log"))
    assert logs, "the fixture writes one log per process"
    for path in logs:  # every process's last line is the hostile one
        with path.open("a") as f:
            f.write(HOSTILE + "\n")
    app = env.app()
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.press("3")  # the Processes pane
        await pilot.pause()
        table = app.query_one("#procs-table", LineTable)
        table.focus()
        await pilot.press("down")
        await pilot.pause()
        assert app.is_running and app.return_code is None
        detail = app.query_one("#procs-detail", Static)
        shown = str(detail.render())
        assert "[@click=app.quit]click me[/] [/] [/b]" in shown, shown
        # no span of the detail carries an action or a link
        content = detail.visual
        spans = getattr(content, "spans", [])
        assert not [s for s in spans if "@click" in str(s.style) or "link" in str(s.style)]


async def test_another_hosts_forged_host_and_device_are_plain_text(env: Any) -> None:
    """Another host names itself in the shared study storage; the running trial's label and
    the Trials table show that name as text, with no escape sequence reaching the terminal."""
    import sqlite3

    # a hostile row, as another host's forged attrs or any writer of the store would leave it
    with sqlite3.connect(env.db) as db:
        n = db.execute("UPDATE attempts SET host = ?, device = ? WHERE study = 'btc-5m' AND "
                       "trial = 12 AND state = 'RUNNING'",
                       ("gpu[/]\x1b]2;pwned\x07", "[@click=app.quit]x")).rowcount
    assert n == 1
    app = env.app()
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.press("1")
        await pilot.pause()
        assert app.is_running and app.return_code is None
        labels = [str(s.render()) for s in app.query(".label").results(Static)]
        assert any("trial 12" in x for x in labels), labels
        assert not [x for x in labels if "\x1b" in x]
        table = app.query_one("#trials-table", LineTable)
        for y in range(table.size.height):
            assert "\x1b" not in "".join(seg.text for seg in table.render_line(y))


async def test_a_process_named_with_markup_can_be_confirmed_without_a_crash(env: Any) -> None:
    """A name from a store row in the stop dialog's question is text too."""
    import json
    import sqlite3

    from console.screens.confirm import ConfirmScreen
    from store.db import now

    name = "aa[/]"
    with sqlite3.connect(env.db) as db:
        db.execute("INSERT INTO processes (name, kind, argv, desired, state, created_at, "
                   "updated_at) VALUES (?, 'monitor', ?, 'running', 'RUNNING', ?, ?)",
                   (name, json.dumps(["monitor"]), now(), now()))
    app = env.app()
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.press("3")
        await pilot.pause()
        table = app.query_one("#procs-table", LineTable)
        table.focus()
        panel = app.query_one("ProcessesPane")
        for _ in range(40):
            if getattr(panel, "selected_process", None) == name:
                break
            await pilot.press("down")
            await pilot.pause()
        assert getattr(panel, "selected_process", None) == name
        await pilot.press("k")
        await pilot.pause()
        assert app.is_running and app.return_code is None
        assert isinstance(app.screen, ConfirmScreen)
        assert name in str(app.screen.query_one(".title", Static).render())
        await pilot.press("n")


async def test_a_log_path_outside_the_logs_folder_is_not_read(env: Any, tmp_path: Any) -> None:
    """A row's log path is a claim: the Processes pane previews only files in [paths] logs."""
    import json
    import sqlite3

    from store.db import now

    secret = tmp_path / "elsewhere.txt"
    secret.write_text("TOP-SECRET-PREVIEW-4471\n")
    with sqlite3.connect(env.db) as db:
        db.execute("INSERT INTO processes (name, kind, argv, desired, state, log_path, "
                   "created_at, updated_at) VALUES ('aa-ghost', 'monitor', ?, 'stopped', "
                   "'STOPPED', ?, ?, ?)", (json.dumps(["monitor"]), str(secret), now(), now()))
    app = env.app()
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        snap = app.snapshot
        assert snap is not None
        ghost = next(p for p in snap.processes if p.name == "aa-ghost")
        assert "TOP-SECRET" not in ghost.last_log
        real = [p for p in snap.processes if p.log_path and p.name != "aa-ghost"]
        assert real and any(p.last_log for p in real)  # the fixture's own logs still show
