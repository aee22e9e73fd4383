"""A file server on 127.0.0.1 with the tricks hostile or broken servers play, for tests.

Standard library only. Files come from a folder; a few paths misbehave::

    with MediaSite(folder, user="u", password="pw") as site:
        site.url("talk.mp4")           # the file, as any server sends it
        site.url("gzip/talk.mp4")      # the file gzip-encoded (Content-Encoding: gzip)
        site.url("bomb.mp4")           # a small gzip body that inflates to BOMB_BYTES
        site.url("drip.mp4")           # one byte every DRIP_S seconds, for a long while
        site.url("to-ftp.mp4")         # a 302 to ftp://127.0.0.1:9/x.mp4
        site.url("hop/talk.mp4")       # a 302 to /talk.mp4 on the same server
        site.url("auth/talk.mp4")      # 401 without HTTP Basic ``user:password``

``site.requests`` keeps each request's path and headers (lower-case names).
"""

from __future__ import annotations

import functools
import gzip
import threading
import time
from base64 import b64encode
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

BOMB_BYTES = 64 << 20
DRIP_S = 0.05
DRIP_MAX = 2000
FTP_TARGET = "ftp://127.0.0.1:9/x.mp4"


@functools.cache
def _bomb() -> bytes:
    return gzip.compress(b"\0" * BOMB_BYTES, 9)


class _Handler(SimpleHTTPRequestHandler):
    site: MediaSite

    def log_message(self, format: str, *args: Any) -> None:
        return None

    def do_GET(self) -> None:
        self.site.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
        path = self.path.split("?", 1)[0]
        if path.startswith("/auth/") and not self._authorized():
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="media"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if path.startswith("/hop/"):
            return self._redirect("/" + path.removeprefix("/hop/"))
        if path.startswith("/auth/"):
            self.path = "/" + path.removeprefix("/auth/")
            return super().do_GET()
        if path == "/to-ftp.mp4":
            return self._redirect(FTP_TARGET)
        if path == "/bomb.mp4":
            return self._send(_bomb(), "gzip")
        if path == "/drip.mp4":
            return self._drip()
        if path.startswith("/gzip/"):
            body = (self.site.root / path.removeprefix("/gzip/")).read_bytes()
            return self._send(gzip.compress(body), "gzip")
        return super().do_GET()

    def _authorized(self) -> bool:
        token = b64encode(f"{self.site.user}:{self.site.password}".encode()).decode()
        return self.headers.get("Authorization") == f"Basic {token}"

    def _redirect(self, location: str) -> None:
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _send(self, body: bytes, encoding: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "video/mp4")
        self.send_header("Content-Encoding", encoding)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _drip(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "video/mp4")
        self.send_header("Content-Length", str(DRIP_MAX))
        self.end_headers()
        try:
            for _ in range(DRIP_MAX):
                self.wfile.write(b"\0")
                self.wfile.flush()
                time.sleep(DRIP_S)
        except OSError:  # the client gave up
            return


class MediaSite:
    """The server, in a thread; a context manager."""

    def __init__(self, root: Path, *, user: str = "user", password: str = "secret") -> None:
        self.root, self.user, self.password = Path(root), user, password
        self.requests: list[tuple[str, dict[str, str]]] = []
        handler = type("Handler", (_Handler,), {"site": self})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0),
                                          partial(handler, directory=str(self.root)))
        self.server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def url(self, path: str, userinfo: str | None = None) -> str:
        host = self.base_url.removeprefix("http://")
        return f"http://{userinfo + '@' if userinfo else ''}{host}/{path}"

    def __enter__(self) -> MediaSite:
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
