"""`--serve` in a real browser: headless Chromium opens the printed address, the panes
render, a key press reaches the app, and a page of another origin cannot drive it.

Needs Debian's `chromium` (`.ci/setup --test` installs it where apt works). The screenshot
is kept in var/test-artifacts/ (gitignored) and in the test's tmp dir.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from aiohttp import web

from console.bench import T0, populate
from engine.config import load_config
from store.db import Store
from tests.console.cdp import Page, chromium_page, chromium_path
from tests.console.served import ANSI, ROOT, Served, served_console, write_config

CHROMIUM = chromium_path()
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (`bash .ci/setup --test` installs "
    "Debian's chromium package where apt-get works as root)")
ARTIFACTS = ROOT / "var" / "test-artifacts"


def _screen(page: Page) -> str:
    return ANSI.sub("", b"".join(page.ws_frames("Received")).decode("utf-8", "replace"))


async def _until(cond: Callable[[], object], what: str, page: Page,
                 timeout: float = 60) -> None:
    """Poll cond (plain or async) until it is true."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = cond()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}; screen: "
                                 f"{_screen(page)[-1500:]!r}")
        await asyncio.sleep(0.2)


async def _keep(page: Page, shot: Path) -> None:
    await page.screenshot(shot)
    assert shot.stat().st_size > 10_000
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(shot, ARTIFACTS / shot.name)


async def _attacker_site(console: Served) -> tuple[web.AppRunner, str]:
    """A page on another origin (127.0.0.1, another port) that tries the console's socket."""
    html = ("<html><body><script>window.attempt = new Promise(done => {"
            f"const ws = new WebSocket('ws://{console.host}:{console.port}/ws');"
            "ws.onopen = () => { ws.send(JSON.stringify(['stdin', 'x'])); done('open'); };"
            "ws.onerror = () => done('refused');"
            "setTimeout(() => done('no answer'), 20000); });</script></body></html>")

    async def index(_: web.Request) -> web.Response:
        return web.Response(text=html, content_type="text/html")

    app = web.Application()
    app.add_routes([web.get("/", index)])
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}/"


async def test_chromium_renders_the_served_console_and_keys_reach_it(tmp_path: Path) -> None:
    assert CHROMIUM is not None
    config = write_config(tmp_path)
    with Store(load_config(config, environ={}).store.path) as st:  # rows for every pane
        populate(st, T0, log_dir=tmp_path / "logs")
    with served_console(config, "--readonly") as served:
        async with chromium_page(CHROMIUM, tmp_path / "profile") as page:
            await page.send("Page.navigate", url=served.url)
            # The panes arrive over the websocket and xterm.js draws them.
            await _until(lambda: all(p in _screen(page) for p in
                                     ("Trials", "Procs", "Positions", "Alerts", "read-only")),
                         "the panes", page)
            await _until(lambda: page.evaluate(
                "document.body.classList.contains('-first-byte')"), "xterm's first byte", page)
            # The token left the address bar for an HttpOnly cookie.
            assert await page.evaluate("location.href") == served.origin + "/"
            assert served.token not in (await page.evaluate("document.cookie") or "")

            await asyncio.sleep(1.0)  # let xterm.js paint the last frame
            await _keep(page, tmp_path / "console-serve-panes.png")

            # A key typed into the terminal goes up the socket and the app answers.
            await page.evaluate("document.querySelector('.xterm-helper-textarea').focus()")
            for kind in ("keyDown", "keyUp"):
                await page.send("Input.dispatchKeyEvent", type=kind, key="?", text="?",
                                unmodifiedText="?")
            await _until(lambda: "Cappuccino console keys" in _screen(page), "help", page)
            sent = [json.loads(f) for f in page.ws_frames("Sent") if f.startswith(b"[")]
            assert ["stdin", "?"] in sent
            await asyncio.sleep(1.0)
            await _keep(page, tmp_path / "console-serve-help.png")

            # The same browser, now holding the cookie, on a page of another origin.
            runner, evil = await _attacker_site(served)
            try:
                await page.send("Page.navigate", url=evil)
                await _until(lambda: page.evaluate("typeof window.attempt === 'object'"),
                             "the attacker's page", page)
                assert await page.evaluate("window.attempt") == "refused"
            finally:
                await runner.cleanup()
        access = served.output()
    # The server saw the attacker's socket and said 403.
    assert re.search(r'"GET /ws HTTP/1\.1" 403', access), access[-2000:]
