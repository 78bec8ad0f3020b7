"""`cappuccino-console --serve`: the console in a browser, behind a one-time token.

textual-serve runs one console child process per websocket and has no login: any page the
operator visits could open a websocket to it and press keys. We keep its public handlers
(index, websocket, download) and put them on our own aiohttp app whose middleware checks,
on every request: the Host header (DNS rebinding), the token (query once, then an HttpOnly
SameSite=Strict cookie, or `Authorization: Bearer`), and for websockets the Origin.

The index page is rendered here rather than by textual-serve's handle_index, whose
websocket URL names the bind address: behind an SSH tunnel or via `localhost` it would
point at another origin, which the cookie and the Origin check rightly refuse. Rendering
its template depends on the template's variable names, hence the textual-serve range pin
in pyproject.toml (>=1.1.3,<1.2).

The token never leaves this process except in the URL printed to the operator's terminal:
not in the child's argv or environment (the child does not need it), not in the store, not
in the access log (redacted below).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import logging
import secrets
import signal
import socket
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp_jinja2
import jinja2
from aiohttp import web
from textual_serve.server import Server
from yarl import URL

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
WILDCARD = frozenset({"0.0.0.0", "::", ""})
DEFAULT_HOST = "127.0.0.1"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def new_token() -> str:
    return secrets.token_urlsafe(32)


def is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def host_warning(host: str | None) -> str | None:
    """The warning for an explicit --host that reaches beyond this machine."""
    if host is None or is_loopback(host):
        return None
    return (f"warning: --host {host}: the console is served beyond this machine over plain "
            "HTTP; whoever reads the token on the wire or on screen controls trading. "
            "Prefer the default (127.0.0.1) and an SSH tunnel (README, Security).")


@dataclass(frozen=True)
class Guard:
    """Who may talk to the served console: the token holder, on an expected Host/Origin."""

    token: str = field(repr=False)  # reprs end up in tracebacks and logs
    allowed_hosts: frozenset[str] | None  # None: any Host (bound to a wildcard address)

    @property
    def cookie(self) -> str:
        # Per server, so two consoles on one host (cookies ignore ports) do not collide.
        return "cappuccino_console_" + hashlib.sha256(self.token.encode()).hexdigest()[:8]

    def token_matches(self, given: str | None) -> bool:
        return given is not None and hmac.compare_digest(given.encode(), self.token.encode())

    def authorised(self, request: web.Request) -> bool:
        auth = request.headers.get("Authorization", "")
        bearer = auth[7:].strip() if auth.lower().startswith("bearer ") else None
        return self.token_matches(request.cookies.get(self.cookie)) or self.token_matches(bearer)

    def host_ok(self, request: web.Request) -> bool:
        host = _host_of(request.host)
        if host is None:
            return False
        return self.allowed_hosts is None or host in self.allowed_hosts

    @staticmethod
    def origin_ok(request: web.Request) -> bool:
        """The Origin is this very server as the browser addressed it (scheme, host, port)."""
        origin = request.headers.get("Origin")
        if not origin:
            return False
        try:
            o = URL(origin)
            h = URL(f"{request.scheme}://{request.host}")
        except ValueError:
            return False
        return (o.scheme in ("http", "https") and o.scheme == h.scheme
                and (o.host or "").lower() == (h.host or "").lower() and o.port == h.port)


def _host_of(host_header: str) -> str | None:
    try:
        host = URL(f"http://{host_header}").host
    except ValueError:
        return None
    return host.lower().strip("[]") if host else None


def allowed_hosts(host: str) -> frozenset[str] | None:
    if host in WILDCARD:
        return None
    return LOOPBACK_NAMES | {host.lower()} if is_loopback(host) else frozenset({host.lower()})


def guard_middleware(guard: Guard) -> Callable[..., Awaitable[web.StreamResponse]]:
    @web.middleware
    async def guard_mw(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not guard.host_ok(request):
            raise web.HTTPForbidden(text="403: unexpected Host header\n")
        given = request.query.get("token")
        if given is not None and request.path == "/":
            if not guard.token_matches(given):
                raise web.HTTPUnauthorized(text="401: wrong token\n")
            # Trade the token in the address bar for a cookie, and drop it from the URL
            # (history, Referer, screen).
            query = {k: v for k, v in request.query.items() if k != "token"}
            found = web.HTTPFound(str(request.rel_url.with_query(query)))
            found.set_cookie(guard.cookie, guard.token, httponly=True, samesite="Strict",
                             path="/", secure=request.secure)
            _harden(found)
            raise found
        if not guard.authorised(request):
            raise web.HTTPUnauthorized(text="401: open the address that `cappuccino-console "
                                       "--serve` printed; it carries the token\n")
        upgrade = request.headers.get("Upgrade", "").lower() == "websocket"
        if (upgrade or "Origin" in request.headers) and not guard.origin_ok(request):
            raise web.HTTPForbidden(text="403: cross-origin request refused\n")
        resp = await handler(request)
        if not resp.prepared:  # a websocket is already under way; its headers are sent
            _harden(resp)
        return resp

    return guard_mw


def _harden(resp: web.StreamResponse) -> None:
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["Referrer-Policy"] = "no-referrer"
    resp.headers["X-Frame-Options"] = "DENY"
    resp.headers["Content-Security-Policy"] = "frame-ancestors 'none'"


class _RedactToken(logging.Filter):
    """The token out of aiohttp's records: access lines, and the errors that quote a raw
    malformed request (its headers, the token among them) in the message or traceback."""

    LOGGERS = ("aiohttp.access", "aiohttp.server", "aiohttp.web", "aiohttp.internal",
               "aiohttp.websocket")

    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token

    def _clean(self, value: object) -> object:
        text = str(value)
        return text.replace(self.token, "<token>") if self.token in text else value

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self._clean(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(self._clean(a) for a in record.args)
        if record.exc_info:
            text = logging.Formatter().formatException(record.exc_info)
            if self.token in text:  # the formatted traceback, redacted, replaces the live one
                record.exc_info, record.exc_text = None, text.replace(self.token, "<token>")
        return True


class GuardedServer(Server):
    """textual-serve's Server with its handlers behind the Guard."""

    def __init__(self, command: str, *, host: str, port: int, guard: Guard,
                 title: str = "Cappuccino", announce: Callable[[str], None] = print) -> None:
        super().__init__(command, host=host, port=port, title=title)
        self.guard = guard
        self.announce = announce
        self.bound_port: int | None = None

    def initialize_logging(self) -> None:
        # textual-serve's own shows each frame's locals in tracebacks: not with a secret about.
        from rich.logging import RichHandler

        logging.basicConfig(level="INFO", format="%(message)s", datefmt="[%X]", handlers=[
            RichHandler(show_path=False, show_time=False, console=self.console)])

    def build_app(self) -> web.Application:
        app = web.Application(middlewares=[guard_middleware(self.guard)])
        aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader(self.templates_path))
        app.add_routes([
            web.get("/", self.handle_index, name="index"),
            web.get("/ws", self.handle_websocket, name="websocket"),
            web.get("/download/{key}", self.handle_download, name="download"),
            web.static("/static", self.statics_path, name="static"),
        ])
        return app

    async def handle_index(self, request: web.Request) -> web.Response:  # type: ignore[override]
        # URLs from the Host the browser used: the bind address may differ (tunnel, localhost).
        base = f"{request.scheme}://{request.host}"
        ws = ("wss" if request.scheme == "https" else "ws") + f"://{request.host}/ws"
        try:
            font_size = int(request.query.get("fontsize", "16"))
        except ValueError:
            font_size = 16
        context: dict[str, Any] = {
            "font_size": font_size, "app_websocket_url": ws,
            "config": {"static": {"url": f"{base}/static/"}},
            "application": {"name": self.title}}
        return aiohttp_jinja2.render_template("app_index.html", request, context)

    def url(self, port: int) -> str:
        host = self.host
        if host in WILDCARD:
            host = socket.gethostname()
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{port}/?token={self.guard.token}"

    async def run(self, stop: asyncio.Event) -> None:
        redact = _RedactToken(self.guard.token)
        for name in redact.LOGGERS:
            logging.getLogger(name).addFilter(redact)
        runner = web.AppRunner(self.build_app(), shutdown_timeout=3.0)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.host, self.port)
            await site.start()
            addr = runner.addresses[0]
            self.bound_port = int(addr[1])
            self.announce(f"Cappuccino console on {self.url(self.bound_port)}")
            self.announce("Open that address (the token is good until this server stops); "
                          "Ctrl+C stops it.")
            await stop.wait()
        finally:
            await runner.cleanup()


def serve(command: str, *, host: str, port: int) -> int:
    """Serve until SIGINT/SIGTERM. Returns the exit code."""
    guard = Guard(new_token(), allowed_hosts(host))
    server = GuardedServer(command, host=host, port=port, guard=guard,
                           announce=lambda line: print(line, flush=True))
    server.initialize_logging()

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await server.run(stop)

    try:
        asyncio.run(main())
    except OSError as e:
        print(f"cappuccino-console: cannot serve on {host}:{port}: {e.strerror or e}",
              file=sys.stderr)
        return 1
    return 0
