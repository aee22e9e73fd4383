"""The HTTP side of ``ChatServer``: request parsing, JSON and error bodies, wire faults."""

from __future__ import annotations

import gzip
import json
import threading
import time
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .chat_server import ChatServer

MAX_BODY_BYTES = 32 * 1024 * 1024

ERROR_TYPES = {
    400: ("invalid_request_error", "Bad request."),
    401: ("invalid_request_error", "Incorrect API key provided: {key}."),
    403: ("permission_denied", "You are not allowed to use this model."),
    404: ("invalid_request_error", "The model `{model}` does not exist."),
    429: ("rate_limit_exceeded", "Rate limit reached. Please try again later."),
}


@lru_cache(maxsize=4)
def gzip_bomb(size: int) -> bytes:
    """A gzip stream of ``size`` zero bytes: about a thousandth of that on the wire."""
    return gzip.compress(bytes(size), compresslevel=9)


class Handler(BaseHTTPRequestHandler):
    server: Server
    protocol_version = "HTTP/1.1"
    timeout = 30  # a stalled client frees its thread after this many seconds

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None,
                   *, raw: str | None = None, cut: bool = False, bomb: int = 0,
                   trickle: float = 0.0, chunked: bool = False,
                   stop: threading.Event | None = None) -> None:
        """``raw`` replaces the JSON body; ``cut`` sends half of it and drops the connection;
        ``bomb``, ``trickle``, ``chunked``: see ``Step``."""
        data = (json.dumps(payload) if raw is None else raw).encode()
        if bomb:
            data = gzip_bomb(bomb)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(len(data)))
        if bomb:
            self.send_header("Content-Encoding", "gzip")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if trickle > 0:
            self._trickle(data, trickle, chunked, stop or threading.Event())
            return
        if cut:
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(2)  # SHUT_RDWR: the client sees the body end early
            return
        self.wfile.write(data)

    def _trickle(self, data: bytes, seconds: float, chunked: bool,
                 stop: threading.Event) -> None:
        """One byte every ``seconds`` until the body is sent, the client leaves or the server
        stops."""
        self.close_connection = True
        try:
            for i in range(len(data)):
                byte = data[i:i + 1]
                self.wfile.write(b"1\r\n" + byte + b"\r\n" if chunked else byte)
                self.wfile.flush()
                if stop.wait(seconds):
                    return
            if chunked:
                self.wfile.write(b"0\r\n\r\n")
        except OSError:  # the client gave up
            return

    def _send_error(
        self,
        status: int,
        message: str,
        kind: str = "invalid_request_error",
        *,
        param: str | None = None,
        code: str | int | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
        body: Any = None,
    ) -> None:
        """OpenAI's error object (plus ``extra`` fields), or ``body`` as-is when given."""
        error = {"message": message, "type": kind, "param": param, "code": code, **(extra or {})}
        # Short retry delays keep the client's automatic retries fast in tests.
        self._send_json(
            status,
            {"error": error} if body is None else body,
            {"retry-after-ms": "10"} if headers is None else headers,
        )

    def do_GET(self) -> None:
        if self.path.rstrip("/").endswith("/models"):
            model = self.server.owner.model
            created = int(time.time())
            entry = {"id": model, "object": "model", "created": created, "owned_by": "local"}
            self._send_json(200, {"object": "list", "data": [entry]})
        else:
            self._send_error(404, f"Unknown path {self.path}")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self.close_connection = True
            self._send_error(413, f"Request body over {MAX_BODY_BYTES} bytes")
            return
        raw = self.rfile.read(length) if length > 0 else b""
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._send_error(404, f"Unknown path {self.path}")
            return
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            body = None
        if not isinstance(body, dict):
            self._send_error(400, "Request body is not a JSON object")
            return
        self.server.owner._answer(self, body)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: ChatServer

    def handle_error(self, request: Any, client_address: Any) -> None:  # quiet
        pass


