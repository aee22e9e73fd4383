"""A tiny OpenAI-compatible chat-completions server on 127.0.0.1, for tests and manual runs.

Standard library only. In tests::

    with ChatServer(reply="A summary.") as srv:
        reasoner = OpenAIReasoner("test-model", base_url=srv.base_url, api_key="sk-test")
        reasoner.complete([{"role": "user", "content": "hi"}])
        assert srv.requests[0]["messages"] == [{"role": "user", "content": "hi"}]

Faults and quirks of real servers, one keyword each::

    ChatServer(script=[Step(429, retry_after=1), 200])   # per request index, then normal
    ChatServer(script=[500, 500])                        # two 5xx, then answers
    ChatServer(delay=2.0)                                # slow: every answer waits 2 s
    ChatServer(script=[Step(cut=True)])                  # connection closed mid-answer
    ChatServer(script=[Step(body="{not json")])          # a 200 that is not JSON
    ChatServer(script=[Step(bomb=64 << 20)])             # gzip body inflating to 64 MB
    ChatServer(script=[Step(trickle=0.5, chunked=True)]) # one byte every 0.5 s
    ChatServer(script=[Step(307, location=other_url)])   # a redirect elsewhere
    ChatServer(context_limit=2048)                       # prompts over 2048 tokens get a 400
    ChatServer(context_limit=2048, context_style="llama.cpp", chars_per_token=0.8)
    ChatServer(think="inline")                           # "<think>...</think>" before the answer
    ChatServer(think="field")                            # a reasoning_content field instead
    ChatServer(omit_usage=True)                          # no "usage" object
    ChatServer(empty_length=1)                           # first answer empty, finish "length"
    ChatServer(reject_params={"temperature", "max_tokens", "response_format", "developer"})
    ChatServer(reply="prose", json_reply='{"summary": "x"}')  # JSON when response_format asks

By hand::

    python -m summarize_video.testing.chat_server --port 8000 --reply "A summary."
"""

from __future__ import annotations

import argparse
import math
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from .chat_http import ERROR_TYPES, Handler, Server
from .chat_quirks import (
    CONTEXT_STYLES,
    REJECTABLE,
    THINK_MODES,
    Step,
    as_step,
    budget_of,
    context_rejection,
    rejection,
    wants_json,
)

Reply = str | Callable[[dict[str, Any]], str]

MAX_RECORDED = 1000



def _tokens(text: str) -> int:
    return max(1, (len(text) + 3) // 4) if text else 0


class ChatServer:
    """An OpenAI-style ``/v1/chat/completions`` endpoint in a background thread.

    ``reply``: the answer text, or a callable ``(request_body) -> str``.
    ``status``: answer every chat request (or only the first ``fail_times``) with this HTTP
    error code and an OpenAI-style error body; a 401 echoes the presented key in its message,
    as a careless server might, so tests can check that callers scrub it.
    ``omit_usage``: leave ``usage`` out of the response.  ``delay``: seconds to wait before
    answering (the "slow" server of timeout tests).  ``model``: what ``GET /v1/models`` lists.
    ``script``: answers for requests 0, 1, 2... (``Step`` or a status code), before all else.
    ``think``: "inline" wraps ``thoughts`` in ``<think>`` before the answer, "field" sends
    them as ``reasoning_content``, "both" does both.  ``empty_length``: the first N answers
    are empty with ``finish_reason: "length"`` (thoughts only, as a reasoning model out of
    budget).  ``reject_params``: names from ``chat_quirks.REJECTABLE`` answered with a 400 in
    OpenAI's wording when a request carries them.  ``json_reply``: the reply used instead of
    ``reply`` when the request asks for ``response_format`` JSON.  ``context_limit``: the
    model's context window in tokens (4 characters each); a longer request gets the 400 that
    OpenAI (prompt over) or vLLM (prompt plus requested output over) sends, or with
    ``context_style="llama.cpp"`` the llama.cpp server's 400 (``n_prompt_tokens``, ``n_ctx``).
    ``chars_per_token``: how this server's tokenizer counts the prompt (4 characters a token
    by default; a byte-level tokenizer of a small model counts far more tokens).
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
        script: Sequence[Step | int] = (),
        think: str | None = None,
        thoughts: str = "The user wants a summary. Let me look at the timeline.",
        empty_length: int = 0,
        reject_params: Iterable[str] = (),
        json_reply: Reply | None = None,
        context_limit: int | None = None,
        context_style: str = "openai",
        chars_per_token: float = 4.0,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        unknown = set(reject_params) - REJECTABLE
        if unknown:
            raise ValueError(f"reject_params: unknown {sorted(unknown)}; use {sorted(REJECTABLE)}")
        if think is not None and think not in THINK_MODES:
            raise ValueError(f"think must be one of {THINK_MODES} or None, got {think!r}")
        self.script = [as_step(item) for item in script]
        self.think = think
        self.thoughts = thoughts
        self.empty_length = empty_length
        self.reject_params = frozenset(reject_params)
        self.json_reply = json_reply
        if context_style not in CONTEXT_STYLES:
            raise ValueError(f"context_style must be one of {CONTEXT_STYLES}")
        if not chars_per_token > 0:
            raise ValueError("chars_per_token must be positive")
        self.context_limit = context_limit
        self.context_style = context_style
        self.chars_per_token = chars_per_token
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
        self._count = 0
        self._empty_sent = 0
        self._statuses: list[int] = []
        self._httpd: Server | None = None
        self._base_url: str | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()  # set by stop(): releases answers still waiting

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> ChatServer:
        if self._httpd is not None:
            return self
        self._stopping.clear()
        httpd = Server((self.host, self.port), Handler)
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
        self._stopping.set()
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

    @property
    def statuses(self) -> list[int]:
        """HTTP status of each answer to a chat request, oldest first (a copy)."""
        with self._lock:
            return list(self._statuses)

    # -- answering -------------------------------------------------------------------------

    def count_tokens(self, text: str) -> int:
        """The prompt's size by this server's tokenizer."""
        if self.chars_per_token == 4.0:
            return _tokens(text)
        return max(1, math.ceil(len(text) / self.chars_per_token)) if text else 0

    def _answer(self, handler: Handler, body: dict[str, Any]) -> None:
        headers = {k.lower(): v for k, v in handler.headers.items()}
        with self._lock:
            index = self._count
            self._count += 1
            self._requests.append(body)
            self._headers.append(headers)
            if len(self._requests) > MAX_RECORDED:
                del self._requests[0], self._headers[0]
            step = self.script[index] if index < len(self.script) else None
            status = self.status if step is None else step.status
            fail = status is not None and status >= 400 and (
                step is not None or self.fail_times is None or self._failed < self.fail_times
            )
            if fail and step is None:
                self._failed += 1
        delay = self.delay if step is None else step.delay
        if delay > 0:
            self._stopping.wait(delay)
        model = str(body.get("model") or self.model)
        if fail and status is not None:
            kind, template = ERROR_TYPES.get(status, ("server_error", "Injected failure."))
            key = headers.get("authorization", "").removeprefix("Bearer ")
            message = step.message if step is not None and step.message else template
            extra = step.error_headers() if step is not None else None
            self._record(status)
            handler._send_error(status, message.format(key=key, model=model), kind,
                                headers=extra,
                                body=step.error_body if step is not None else None)
            return
        if step is not None and step.location is not None:
            self._record(step.status)
            handler._send_json(step.status, {}, {"Location": step.location})
            return
        if body.get("stream"):
            self._record(400)
            handler._send_error(400, "ChatServer does not support stream=true")
            return
        rejected = rejection(body, self.reject_params) if step is None else None
        if rejected is None:
            rejected = context_rejection(self.count_tokens(_prompt(body)), budget_of(body),
                                         self.context_limit, self.context_style)
        if rejected is not None:
            self._record(400)
            handler._send_error(400, rejected.message, rejected.kind, param=rejected.param,
                                code=rejected.code if rejected.extra == {} else 400,
                                extra=dict(rejected.extra))
            return
        self._send_answer(handler, body, model, step)

    def _record(self, status: int) -> None:
        with self._lock:
            self._statuses.append(status)
            del self._statuses[:-MAX_RECORDED]

    def _send_answer(
        self, handler: Handler, body: dict[str, Any], model: str, step: Step | None
    ) -> None:
        reply = self.json_reply if self.json_reply is not None and wants_json(body) else self.reply
        try:
            text = reply(body) if callable(reply) else reply
        except Exception as exc:  # the test's reply callable failed: tell the client
            self._record(500)
            handler._send_error(500, f"reply callable failed: {exc!r}", "server_error")
            return
        finish_reason = "stop"
        with self._lock:
            empty = step is None and self._empty_sent < self.empty_length
            if empty:
                self._empty_sent += 1
        if step is not None and step.content is not None:
            text, finish_reason = step.content, step.finish_reason
        elif empty:
            text, finish_reason = "", "length"
        message: dict[str, Any] = {"role": "assistant", "content": text}
        thoughts = self.thoughts if self.think or empty else ""
        if self.think in ("field", "both") or (empty and self.think is None):
            message["reasoning_content"] = thoughts
        if self.think in ("inline", "both") and not empty:
            message["content"] = f"<think>\n{thoughts}\n</think>\n\n{text}"
        prompt = _prompt(body)
        response: dict[str, Any] = {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "finish_reason": finish_reason,
                    "logprobs": None,
                }
            ],
        }
        if not self.omit_usage:
            prompt_tokens = _tokens(prompt)
            completion_tokens = _tokens(str(message["content"]) + thoughts)
            if finish_reason == "length":
                completion_tokens = budget_of(body) or completion_tokens
            response["usage"] = {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            }
        self._record(200)
        if step is not None and step.wire_fault:
            handler._send_json(200, response, raw=step.body, cut=step.cut, bomb=step.bomb,
                               trickle=step.trickle, chunked=step.chunked,
                               stop=self._stopping)
            return
        handler._send_json(200, response)


def _prompt(body: dict[str, Any]) -> str:
    messages = body.get("messages") or []
    return "\n".join(str(m.get("content", "")) for m in messages if isinstance(m, dict))


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
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before each answer")
    parser.add_argument("--think", choices=THINK_MODES, default=None)
    parser.add_argument("--empty-length", type=int, default=0, metavar="N")
    parser.add_argument("--reject", default="", help="comma list, e.g. temperature,max_tokens")
    parser.add_argument("--context-limit", type=int, default=None, metavar="TOKENS")
    args = parser.parse_args(argv)
    server = ChatServer(
        reply=args.reply,
        model=args.model,
        status=args.status,
        omit_usage=args.omit_usage,
        delay=args.delay,
        think=args.think,
        empty_length=args.empty_length,
        reject_params=[p.strip() for p in args.reject.split(",") if p.strip()],
        context_limit=args.context_limit,
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
