"""`cappuccino-console --serve`: token, Host and Origin checks, read-only, from real clients.

Each test runs the real server as a subprocess and talks to it with aiohttp's HTTP and
websocket clients, as a browser (or an attacker's page) would.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import psutil
import pytest

from console.bench import T0, populate
from console.serve import Guard, new_token
from engine.config import load_config
from store.db import Store
from tests.console.served import (
    ROOT,
    Screen,
    Served,
    served_console,
    stop_supervisor,
    write_config,
)


def _commands(config: Path) -> list[tuple[str, str]]:
    db = Path(load_config(config, environ={}).store.path)
    if not db.exists():
        return []
    with Store(db, create=False) as st:
        return [(r["action"], r["source"]) for r in st.query("SELECT * FROM commands")]


def _wait(cond, timeout: float = 45, what: str = "condition") -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


@pytest.fixture(scope="module")
def readonly(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, Path]]:
    tmp = tmp_path_factory.mktemp("serve-ro")
    config = write_config(tmp)
    with Store(load_config(config, environ={}).store.path) as st:  # a store keys could write
        populate(st, T0, log_dir=tmp / "logs")
    with served_console(config, "--readonly") as served:
        yield served, config


async def _status(session: aiohttp.ClientSession, url: str, **kw: object) -> int:
    async with session.get(url, allow_redirects=False, **kw) as r:  # type: ignore[arg-type]
        return r.status


async def _ws_refused(served: Served, headers: dict[str, str]) -> int:
    async with aiohttp.ClientSession() as s:
        with pytest.raises(aiohttp.WSServerHandshakeError) as e:
            async with s.ws_connect(served.ws_url, headers=headers):
                pass
    return e.value.status


async def test_http_without_the_token_is_refused(readonly: tuple[Served, Path]) -> None:
    served, _ = readonly
    base = served.origin
    bearer = {"Authorization": f"Bearer {served.token}"}
    async with aiohttp.ClientSession() as s:
        for path in ("/", "/static/js/textual.js", "/download/anything", "/ws"):
            assert await _status(s, base + path) == 401, path
        assert await _status(s, base + "/?token=" + "A" * len(served.token)) == 401
        assert await _status(s, base + "/", headers={"Authorization": "Bearer nope"}) == 401
        # A right token through the wrong Host (a DNS-rebound name) is still refused.
        assert await _status(s, base + "/", headers={**bearer, "Host": "evil.example"}) == 403
        assert await _status(s, base + "/static/js/textual.js", headers=bearer) == 200


async def test_the_printed_url_trades_its_token_for_a_strict_cookie(
        readonly: tuple[Served, Path]) -> None:
    served, _ = readonly
    jar = aiohttp.CookieJar(unsafe=True)  # unsafe: keep cookies for an IP address host
    async with aiohttp.ClientSession(cookie_jar=jar) as s:
        async with s.get(served.url + "&fontsize=14", allow_redirects=False) as r:
            assert r.status == 302
            assert r.headers["Location"] == "/?fontsize=14"  # the token leaves the URL
            cookie = r.headers["Set-Cookie"]
            assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
        async with s.get(served.origin + "/") as r:
            page = await r.text()
            assert r.status == 200 and r.headers["X-Frame-Options"] == "DENY"
    assert f'ws://{served.host}:{served.port}/ws' in page and served.token not in page
    # Through a tunnel on another local port the page points at the address the browser used.
    async with aiohttp.ClientSession() as s, s.get(served.origin + "/", headers={
            "Authorization": f"Bearer {served.token}", "Host": "localhost:9000"}) as r:
        assert "ws://localhost:9000/ws" in await r.text()
    # The token is in the printed line and nowhere else in the server's output (access log).
    assert served.output().count(served.token) == 1


async def test_a_malformed_request_carrying_the_token_does_not_echo_it(
        readonly: tuple[Served, Path]) -> None:
    """aiohttp logs a request it cannot parse with its raw bytes: the token must not ride along."""
    served, _ = readonly
    before = served.output().count(served.token)
    # aiohttp answers 400 and logs each with the bytes it could not parse (seen with these two)
    for raw in (f"GET / HTTP/1.1\r\nHost: {served.host}\r\nAuthorization: Bearer {served.token}"
                "\x00\r\n\r\n",
                f"GET /{served.token}\x01 HTTP/1.1\r\n\r\n",
                f"GET /?token={served.token} HTTP/1.1\r\nContent-Length: x\r\n\r\n"):
        reader, writer = await asyncio.open_connection(served.host, served.port)
        writer.write(raw.encode())
        await writer.drain()
        await asyncio.wait_for(reader.read(), 10)
        writer.close()
    await asyncio.sleep(1.5)  # let the server write its log lines
    assert served.output().count(served.token) == before


def test_the_token_stays_out_of_reprs() -> None:
    guard = Guard(new_token(), None)
    assert len(guard.token) >= 43 and guard.token not in repr(guard)


def test_binds_loopback_only_and_keeps_the_token_off_child_argv(
        readonly: tuple[Served, Path]) -> None:
    served, _ = readonly
    proc = psutil.Process(served.proc.pid)
    listening = [c.laddr for c in proc.net_connections(kind="inet")
                 if c.status == psutil.CONN_LISTEN]
    assert listening and all(a.ip == "127.0.0.1" for a in listening), listening
    assert served.token not in " ".join(proc.cmdline())


async def test_websocket_needs_token_and_same_origin(readonly: tuple[Served, Path]) -> None:
    served, _ = readonly
    bearer = {"Authorization": f"Bearer {served.token}"}
    assert await _ws_refused(served, {"Origin": served.origin}) == 401
    assert await _ws_refused(served, {**bearer, "Origin": "http://evil.example"}) == 403
    assert await _ws_refused(served, {**bearer, "Origin": f"http://{served.host}:1"}) == 403
    assert await _ws_refused(served, bearer) == 403  # no Origin at all


async def test_readonly_app_ignores_the_kill_switch(readonly: tuple[Served, Path]) -> None:
    served, config = readonly
    headers = {"Authorization": f"Bearer {served.token}", "Origin": served.origin}
    async with aiohttp.ClientSession() as s, s.ws_connect(served.ws_url, headers=headers) as ws:
        screen = Screen(ws)
        await screen.wait_for("read-only")
        # The served child got neither the token on its command line nor in its environment.
        children = psutil.Process(served.proc.pid).children(recursive=True)
        assert children
        for child in children:
            assert served.token not in " ".join(child.cmdline())
            assert all(served.token not in v for v in child.environ().values())
        await screen.press("x")
        await screen.press("y")
        await screen.press("?")  # the keys reach the app: help opens
        await screen.wait_for("Cappuccino console keys")
    await asyncio.sleep(1.0)
    assert [c for c in _commands(config) if c[0] == "halt_all"] == []


async def test_a_foreign_origin_cannot_press_keys_the_served_origin_can(
        tmp_path: Path) -> None:
    config = write_config(tmp_path)
    try:
        with served_console(config) as served:
            bearer = {"Authorization": f"Bearer {served.token}"}
            # A page on another origin, even one that knows the token: no websocket.
            assert await _ws_refused(served, {**bearer, "Origin": "http://evil.example"}) == 403
            assert _commands(config) == []
            # The same keys from the served origin engage the kill switch.
            async with aiohttp.ClientSession() as s, s.ws_connect(
                    served.ws_url, headers={**bearer, "Origin": served.origin}) as ws:
                screen = Screen(ws)
                await screen.wait_for("Trials")
                await screen.press("x")
                await screen.wait_for("HALT ALL TRADERS?")
                await screen.press("y")
                await asyncio.to_thread(
                    _wait, lambda: ("halt_all", "console") in _commands(config),
                    what="the halt_all command row")
            assert served.token not in Path(load_config(config, environ={})
                                            .store.path).read_bytes().decode("latin-1")
    finally:
        stop_supervisor(config)


def _console(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "console.main", *args], capture_output=True,
                          text=True, timeout=60, cwd=ROOT)


def test_an_explicit_host_warns_and_a_bind_failure_is_one_line(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    # 192.0.2.1 (TEST-NET-1) is no address of this machine: the bind fails, nothing is sent.
    r = _console("--config", str(config), "--serve", "--host", "192.0.2.1", "--port", "0")
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 1 and len(lines) == 2, r.stderr
    assert "warning: --host 192.0.2.1" in lines[0] and "SSH tunnel" in lines[0]
    assert "cannot serve on 192.0.2.1:0" in lines[1] and "Traceback" not in r.stderr


@pytest.mark.parametrize("args", [["--host", "0.0.0.0"], ["--serve", "--port", "70000"]])
def test_bad_serve_flags_are_usage_errors(args: list[str]) -> None:
    r = _console(*args)
    assert r.returncode == 2 and "Traceback" not in r.stderr and r.stderr.strip()
