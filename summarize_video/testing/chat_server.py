"""A tiny OpenAI-compatible chat-completions server on 127.0.0.1, for tests and manual runs.

Standard library only. In tests::

    with ChatServer(reply="A summary.") as srv:
        reasoner = OpenAIReasoner("test-model", base_url=srv.base_url, api_key="sk-test")
        reasoner.complete([{"role": "user", "content": "hi"}])
        assert srv.requests[0]["messages"] == [{"role": "user", "content": "hi"}]

By hand::

    python -m summarize_video.testing.chat_server --port 8000 --reply "A summary."
"""

from __future__ import annotations

import argparse
import json
import threading
import time
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Reply = str | Callable[[dict[str, Any]], str]

MAX_BODY_BYTES = 32 * 1024 * 1024
MAX_RECORDED = 1000

_ERROR_TYPES = {
    400: ("invalid_request_error", "Bad request."),
    401: ("invalid_request_error", "Incorrect API key provided: {key}."),
    403: ("permission_denied", "You are not allowed to use this model."),
    404: ("invalid_request_error", "The model `{model}` does not exist."),
    429: ("rate_limit_exceeded", "Rate limit reached. Please try again later."),
}


def _tokens(text: str) -> int:
    return max(1, (len(text) + 3) // 4) if text else 0


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    timeout = 30  # a stalled client frees its thread after this many seconds

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _send_error(self, status: int, message: str, kind: str = "invalid_request_error") -> None:
        # Short retry delays keep the client's automatic retries fast in tests.
        self._send_json(
            status,
            {"error": {"message": message, "type": kind, "param": None, "code": None}},
            {"retry-after-ms": "10"},
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


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: ChatServer

    def handle_error(self, request: Any, client_address: Any) -> None:  # quiet
        pass


class ChatServer:
    """An OpenAI-style ``/v1/chat/completions`` endpoint in a background thread.

    ``reply``: the answer text, or a callable ``(request_body) -> str``.
    ``status``: answer every chat request (or only the first ``fail_times``) with this HTTP
    error code and an OpenAI-style error body; a 401 echoes the presented key in its message,
    as a careless server might, so tests can check that callers scrub it.
    ``omit_usage``: leave ``usage`` out of the response.  ``delay``: seconds to wait before
    answering (for timeout tests).  ``model``: what ``GET /v1/models`` lists.
    """

    def __init__(
        self,
        reply: Reply = "This is a test answer.",
        *,
        model: str = "test-model",
        status: int | None = None,
        fail_times: int | None = None,
        omit_usage: bool = False,
        delay: float = 0.0,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.reply = reply
        self.model = model
        self.status = status
        self.fail_times = fail_times
        self.omit_usage = omit_usage
        self.delay = delay
        self.host = host
        self.port = port
        self._lock = threading.Lock()
        self._requests: list[dict[str, Any]] = []
        self._headers: list[dict[str, str]] = []
        self._failed = 0
        self._httpd: _Server | None = None
        self._base_url: str | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> ChatServer:
        if self._httpd is not None:
            return self
        httpd = _Server((self.host, self.port), _Handler)
        httpd.owner = self
        self._httpd = httpd
        self.port = httpd.server_address[1]
        self._base_url = f"http://{self.host}:{self.port}/v1"
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> ChatServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what tests read -------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1`` (still readable after the server stopped)."""
        if self._base_url is None:
            raise RuntimeError("ChatServer was never started: use it as a context manager")
        return self._base_url

    @property
    def requests(self) -> list[dict[str, Any]]:
        """JSON bodies of every POST to /v1/chat/completions, oldest first (a copy)."""
        with self._lock:
            return list(self._requests)

    @property
    def request_headers(self) -> list[dict[str, str]]:
        """Headers of the same requests (names lower-cased), aligned with ``requests``."""
        with self._lock:
            return list(self._headers)

    # -- answering -------------------------------------------------------------------------

    def _answer(self, handler: _Handler, body: dict[str, Any]) -> None:
        headers = {k.lower(): v for k, v in handler.headers.items()}
        with self._lock:
            self._requests.append(body)
            self._headers.append(headers)
            if len(self._requests) > MAX_RECORDED:
                del self._requests[0], self._headers[0]
            status = self.status
            fail = status is not None and (
                self.fail_times is None or self._failed < self.fail_times
            )
            if fail:
                self._failed += 1
        if self.delay > 0:
            time.sleep(self.delay)
        model = str(body.get("model") or self.model)
        if fail and status is not None:
            kind, template = _ERROR_TYPES.get(status, ("server_error", "Injected failure."))
            key = headers.get("authorization", "").removeprefix("Bearer ")
            handler._send_error(status, template.format(key=key, model=model), kind)
            return
        if body.get("stream"):
            handler._send_error(400, "ChatServer does not support stream=true")
            return
        try:
            text = self.reply(body) if callable(self.reply) else self.reply
        except Exception as exc:  # the test's reply callable failed: tell the client
            handler._send_error(500, f"reply callable failed: {exc!r}", "server_error")
            return
        messages = body.get("messages") or []
        prompt = "\n".join(str(m.get("content", "")) for m in messages if isinstance(m, dict))
        response: dict[str, Any] = {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                    "logprobs": None,
                }
            ],
        }
        if not self.omit_usage:
            prompt_tokens, completion_tokens = _tokens(prompt), _tokens(text)
            response["usage"] = {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            }
        handler._send_json(200, response)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m summarize_video.testing.chat_server",
        description="Serve a canned OpenAI-compatible chat-completions answer until Ctrl-C.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--reply", default="This is a test answer.")
    parser.add_argument("--model", default="test-model")
    parser.add_argument("--status", type=int, default=None, help="answer with this HTTP error")
    parser.add_argument("--omit-usage", action="store_true")
    args = parser.parse_args(argv)
    server = ChatServer(
        reply=args.reply,
        model=args.model,
        status=args.status,
        omit_usage=args.omit_usage,
        host=args.host,
        port=args.port,
    )
    with server:
        print(f"serving {server.base_url} (Ctrl-C to stop)", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            print("stopped", flush=True)


if __name__ == "__main__":
    main()
