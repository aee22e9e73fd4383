"""The HTTP transport under the ``openai`` client: a deadline, a size cap, no redirects.

A hostile or broken server can hold a run, or its memory, in ways the client's own limits do
not cover. Each request (each attempt, when the client retries) therefore goes through
``GuardedTransport``, which:

- ends it ``timeout`` seconds after it was sent, whatever the server does meanwhile: the
  client's timeout is per read, and a server trickling one byte a second never trips it. At
  the deadline the connection is shut down and the attempt fails as a timeout (retried like
  one);
- reads at most ``MAX_RESPONSE_BYTES`` of the body, counted after decompression (it asks for
  gzip or deflate only, and inflates them itself in bounded steps): a small compressed reply
  cannot inflate to gigabytes in memory;
- follows no redirect: an API endpoint that answers 3xx is refused, naming both URLs, so the
  timeline (and the key) never goes to another origin.

Imported only when a server reasoner is built: it imports ``httpx2`` and ``openai``.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import zlib
from collections.abc import Iterator
from typing import Any

import httpx2
import openai

from ..redaction import redact_url

# Bytes of one response body, after decompression: far above any real answer (an output
# budget of 25,000 tokens is ~100 kB of text), far below what hurts memory.
MAX_RESPONSE_BYTES = 8 * 1024 * 1024
_CHUNK = 64 * 1024
_DECODED = ("gzip", "x-gzip", "deflate")


class ResponseRefused(openai.OpenAIError):
    """A response the transport will not read (over the cap, redirected, or encoded in a way
    it does not decode). An ``OpenAIError``, so the client raises it at once, unretried."""

    hint = "is this an OpenAI-compatible endpoint? the base URL usually ends in /v1"


class ResponseTooLarge(ResponseRefused):
    hint = "the server sent far more than any answer; check what runs at that URL"

    def __init__(self, limit: int) -> None:
        super().__init__(f"the answer is over {limit // (1024 * 1024)} MB")
        self.limit = limit


class RedirectRefused(ResponseRefused):
    hint = "redirects are not followed: pass the URL it redirects to as --base-url, if trusted"

    def __init__(self, status: int, source: str, target: str) -> None:
        super().__init__(f"the server redirected (HTTP {status}) {redact_url(source)} to "
                         f"{redact_url(target) or '(no location)'}")
        self.status = status


class _Deadline:
    """Shuts the request's connection down when its time is up."""

    def __init__(self, seconds: float) -> None:
        self.expired = False
        self._sockets: list[Any] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def trace(self, name: str, info: dict[str, Any]) -> None:
        """The ``trace`` extension of the HTTP core: keeps each new connection's socket."""
        if name.endswith((".connect_tcp.complete", ".start_tls.complete")):
            stream = info.get("return_value")
            sock = stream.get_extra_info("socket") if stream is not None else None
            if sock is not None:
                with self._lock:
                    self._sockets.append(sock)
                    if self.expired:
                        _shut(sock)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                _shut(sock)

    def cancel(self) -> None:
        self._timer.cancel()


def _shut(sock: Any) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


class _Body(httpx2.SyncByteStream):
    """The response body: decoded here, counted, stopped at the deadline."""

    def __init__(self, raw: Any, encoding: str, limit: int, deadline: _Deadline,
                 request: httpx2.Request) -> None:
        self._raw, self._limit, self._deadline, self._request = raw, limit, deadline, request
        wbits = 16 + zlib.MAX_WBITS if "gzip" in encoding else (
            zlib.MAX_WBITS if encoding == "deflate" else None)
        self._inflate = zlib.decompressobj(wbits) if wbits is not None else None

    def __iter__(self) -> Iterator[bytes]:
        seen = 0
        try:
            for chunk in self._raw:
                self._check_time()
                for piece in self._decode(chunk):
                    seen += len(piece)
                    if seen > self._limit:
                        raise ResponseTooLarge(self._limit)
                    yield piece
            self._check_time()
        except httpx2.TransportError:
            self._check_time()
            raise

    def _decode(self, chunk: bytes) -> Iterator[bytes]:
        if self._inflate is None:
            yield chunk
            return
        data = chunk
        while data:
            try:
                piece = self._inflate.decompress(data, _CHUNK)
            except zlib.error:
                raise httpx2.DecodingError("the body's compression is damaged",
                                           request=self._request) from None
            yield piece
            data = self._inflate.unconsumed_tail
            if self._inflate.eof:
                return

    def _check_time(self) -> None:
        if self._deadline.expired:
            raise httpx2.ReadTimeout("no answer within the deadline", request=self._request)

    def close(self) -> None:
        self._deadline.cancel()
        close = getattr(self._raw, "close", None)
        if close is not None:
            close()


class GuardedTransport(httpx2.BaseTransport):
    """``httpx2.HTTPTransport`` with a whole-request deadline, a body cap and no redirects."""

    def __init__(self, timeout: float, max_bytes: int | None = None) -> None:
        self.timeout = float(timeout)
        self.max_bytes = MAX_RESPONSE_BYTES if max_bytes is None else int(max_bytes)
        # A fresh connection per request: its socket is known, so the deadline can close it.
        self._inner = httpx2.HTTPTransport(limits=httpx2.Limits(max_keepalive_connections=0))

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        deadline = _Deadline(self.timeout)
        request.extensions = {**request.extensions, "trace": deadline.trace}
        request.headers["Accept-Encoding"] = "gzip, deflate"
        try:
            response = self._inner.handle_request(request)
        except httpx2.TransportError:
            deadline.cancel()
            if deadline.expired:
                raise httpx2.ReadTimeout("no answer within the deadline",
                                         request=request) from None
            raise
        try:
            return self._checked(request, response, deadline)
        except BaseException:
            deadline.cancel()
            response.close()
            raise

    def _checked(self, request: httpx2.Request, response: httpx2.Response,
                 deadline: _Deadline) -> httpx2.Response:
        if 300 <= response.status_code < 400:
            raise RedirectRefused(response.status_code, str(request.url),
                                  response.headers.get("location", ""))
        encoding = response.headers.get("content-encoding", "identity").strip().lower()
        if encoding not in (*_DECODED, "identity", ""):
            raise ResponseRefused(f"the answer is encoded as {encoding[:40]!r}, which was not "
                                  "asked for")
        headers = [(k, v) for k, v in response.headers.multi_items()
                   if k.lower() not in ("content-encoding", "content-length")]
        return httpx2.Response(
            response.status_code, headers=headers,
            stream=_Body(response.stream, encoding, self.max_bytes, deadline, request),
            extensions=response.extensions, request=request,
        )

    def close(self) -> None:
        self._inner.close()


def http_client(timeout: float, max_bytes: int | None = None) -> httpx2.Client:
    """The client for ``openai.OpenAI(http_client=...)``: guarded, following no redirect."""
    return httpx2.Client(transport=GuardedTransport(timeout, max_bytes),
                         follow_redirects=False, timeout=timeout)


def refusal_of(exc: BaseException) -> ResponseRefused | None:
    """The ``ResponseRefused`` that ``exc`` is or was raised from, if any."""
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            return None
        if isinstance(seen, ResponseRefused):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None

