"""A threaded local HTTP server with fault injection, the base of the exchange fakes.

Subclasses implement `route(req) -> (status, body)` where body is a JSON-able value or
raw bytes. Fault switches apply to the next matching requests (optionally only those
whose path contains `path`, or is exactly it when it ends in `$`, and, if given, whose
method is `method`):

- fail_next(status, times): answer with that HTTP status before touching any state;
- malformed_next(times): handle the request (state changes), then send cut-off JSON;
- reset_next(times): handle the request (state changes), then reset the connection;
- delay_next(seconds, times): handle the request, then wait before answering
  (a client with a shorter timeout gives up while the state has already changed);
- clock_skew_s: added to the server's clock; set_time(t) pins the clock (then it moves only
  when told: a test drives the exchange's time); unauthorized: private endpoints answer 401;
- fail_next(..., headers={"Retry-After": "2"}): the injected answer carries these headers.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


# The wire formats both exchange fakes speak: ISO-8601 times in UTC, decimals as strings.
def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_iso(s: str) -> float:
    return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


def dec(x: Any) -> Decimal:
    return Decimal(str(x))


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any

    def arg(self, name: str, default: str | None = None) -> str | None:
        vals = self.query.get(name)
        return vals[0] if vals else default

    def args(self, name: str) -> list[str]:
        out: list[str] = []
        for v in self.query.get(name, []) + self.query.get(f"{name}[]", []):
            out.extend(x for x in v.split(",") if x)
        return out


@dataclass
class _Fault:
    kind: str               # fail | malformed | reset | delay
    times: int
    path: str | None
    method: str | None = None
    status: int = 500
    seconds: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class _Reply:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # injected resets and client timeouts are expected here


class FakeServer:
    """Start with `with Fake() as srv:` (or .start()/.stop()); see module docstring."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.requests: list[Request] = []
        self.clock_skew_s = 0.0
        self.pinned_at: float | None = None
        self._fast: tuple[float, float, float] | None = None
        self.unauthorized = False
        self._faults: list[_Fault] = []
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._closing = threading.Event()

    # ---- lifecycle -------------------------------------------------------------------
    def start(self) -> FakeServer:
        srv = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"   # one request per connection: resets stay local

            def log_message(self, *a: Any) -> None:
                pass

            def do_GET(self) -> None:
                srv._serve(self)

            do_POST = do_DELETE = do_PUT = do_PATCH = do_GET

        self._httpd = _QuietServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._closing.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._httpd is not None, "server not started"
        return int(self._httpd.server_address[1])

    @property
    def host_port(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"http://{self.host_port}"

    def now(self) -> float:
        if self.pinned_at is not None:
            base = self.pinned_at
        elif self._fast is not None:  # (wall start, exchange start, speed)
            base = self._fast[1] + (time.time() - self._fast[0]) * self._fast[2]
        else:
            base = time.time()
        return base + self.clock_skew_s

    def accelerate(self, start_at: float, speed: float) -> None:
        """Run the exchange's clock from start_at at `speed` x the machine's (a soak test's
        bars pass in seconds)."""
        with self.lock:
            self.pinned_at = None
            self._fast = (time.time(), start_at, speed)

    def set_time(self, t: float | None) -> None:
        """Pin the exchange's clock at t (None: follow the machine's again)."""
        with self.lock:
            self.pinned_at = t

    # ---- fault switches ----------------------------------------------------------------
    def fail_next(self, status: int = 500, times: int = 1, path: str | None = None,
                  method: str | None = None, headers: dict[str, str] | None = None) -> None:
        self._add(_Fault("fail", times, path, method, status=status, headers=headers or {}))

    def malformed_next(self, times: int = 1, path: str | None = None,
                       method: str | None = None) -> None:
        self._add(_Fault("malformed", times, path, method))

    def reset_next(self, times: int = 1, path: str | None = None,
                   method: str | None = None) -> None:
        self._add(_Fault("reset", times, path, method))

    def delay_next(self, seconds: float, times: int = 1, path: str | None = None,
                   method: str | None = None) -> None:
        self._add(_Fault("delay", times, path, method, seconds=seconds))

    def clear_faults(self) -> None:
        with self.lock:
            self._faults.clear()

    def _add(self, fault: _Fault) -> None:
        with self.lock:
            self._faults.append(fault)

    def _take_fault(self, method: str, path: str) -> _Fault | None:
        with self.lock:
            for f in self._faults:
                exact = f.path is not None and f.path.endswith("$")
                hit = (f.path is None or (path == f.path[:-1] if exact else f.path in path))
                if hit and f.method in (None, method):
                    f.times -= 1
                    if f.times <= 0:
                        self._faults.remove(f)
                    return f
        return None

    def count(self, method: str, path_part: str) -> int:
        with self.lock:
            return sum(1 for r in self.requests if r.method == method and path_part in r.path)

    # ---- to override -------------------------------------------------------------------
    def route(self, req: Request) -> tuple[int, Any]:
        raise NotImplementedError

    def error_body(self, status: int) -> Any:
        return {"error": f"HTTP {status}", "message": "injected fault"}

    # ---- plumbing ----------------------------------------------------------------------
    def _serve(self, h: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(h.path)
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        req = Request(h.command, parts.path, parse_qs(parts.query, keep_blank_values=True),
                      {k.lower(): v for k, v in h.headers.items()}, body)
        with self.lock:
            self.requests.append(req)
        fault = self._take_fault(req.method, req.path)
        if fault is not None and fault.kind == "fail":
            self._send(h, _Reply(fault.status, self._encode(self.error_body(fault.status)),
                                 dict(fault.headers)))
            return
        with self.lock:
            try:
                status, out = self.route(req)
            except Exception as e:  # a bug in the fake shows up as a 500 with its text
                status, out = 500, {"error": "FAKE_BUG", "message": repr(e)}
        reply = _Reply(status, self._encode(out))
        if fault is None:
            self._send(h, reply)
        elif fault.kind == "malformed":
            cut = reply.body[: max(1, len(reply.body) // 2)]
            self._send(h, _Reply(200, cut if cut != reply.body else b"{\"partial\": "))
        elif fault.kind == "reset":
            self._reset(h)
        elif fault.kind == "delay" and not self._closing.wait(fault.seconds):
            self._send(h, reply)

    @staticmethod
    def _encode(out: Any) -> bytes:
        if isinstance(out, bytes):
            return out
        return json.dumps(out).encode()

    @staticmethod
    def _send(h: BaseHTTPRequestHandler, reply: _Reply) -> None:
        try:
            h.send_response(reply.status)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(reply.body)))
            for k, v in reply.headers.items():
                h.send_header(k, v)
            h.end_headers()
            h.wfile.write(reply.body)
        except OSError:
            pass  # the client gave up (timeout test)

    @staticmethod
    def _reset(h: BaseHTTPRequestHandler) -> None:
        # SO_LINGER 0 makes close() send RST: the client sees "connection reset by peer".
        sock: socket.socket = h.connection
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()
        except OSError:
            pass
        h.close_connection = True
