"""Credentials out of anything written or shown: URLs with ``user:password@``."""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import unquote, urlsplit, urlunsplit


def redact_url(url: str) -> str:
    """``url`` with any ``user:password@`` replaced by ``***@``, fit for messages, logs,
    outputs and records. Text that is not a URL comes back unchanged."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"***@{host}"))


_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^\s/?#@]*@")


def redact_urls_in(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` (a server's message, say) with the ``user:password@`` of every URL in it
    replaced by ``***@``, and each of ``secrets`` (4 characters or more) by ``***``."""
    for secret in sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True):
        text = text.replace(secret, "***")
    return _USERINFO.sub(r"\1***@", text)


def url_secrets(url: str | None) -> tuple[str, ...]:
    """The password of ``url``'s userinfo, as written and percent-decoded (empty if none)."""
    if not url:
        return ()
    try:
        parts = urlsplit(url)
    except ValueError:
        return ()
    if "@" not in parts.netloc:
        return ()
    userinfo = parts.netloc.rsplit("@", 1)[0]
    password = userinfo.split(":", 1)[1] if ":" in userinfo else ""
    return tuple({password, unquote(password)} - {""})
