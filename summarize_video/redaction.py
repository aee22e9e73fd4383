"""Credentials out of anything written or shown: URLs with ``user:password@``, known keys."""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import unquote, urlsplit, urlunsplit

MASK = "***"
# ``scheme://userinfo@`` inside any text: the userinfo runs to the last ``@`` before the host's
# end (``/``, ``?``, ``#`` or white space), as ``urlsplit`` reads it.
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)[^/?#\s@]*(?:@[^/?#\s@]*)*@")
# Shorter values are not masked inside text: they would mangle ordinary words.
MIN_SECRET = 6


def redact_url(url: str) -> str:
    """``url`` with any ``user:password@`` replaced by ``***@``, fit for messages, logs,
    outputs and records. Text that is not a URL comes back unchanged."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact_text(url)
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{MASK}@{host}"))


def redact_text(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` with every URL's userinfo replaced by ``***`` and every one of ``secrets``
    (API keys, passwords) masked wherever it appears."""
    for secret in sorted({s for s in secrets if s and len(s) >= MIN_SECRET}, key=len,
                         reverse=True):
        text = text.replace(secret, MASK)
    return _USERINFO.sub(rf"\1{MASK}@", text)


def url_userinfo(url: str) -> tuple[str, str | None, str | None]:
    """``(url without userinfo, user, password)``, percent-escapes in the user and password
    decoded; ``(url, None, None)`` when it has none."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url, None, None
    userinfo, host = parts.netloc.rsplit("@", 1)
    user, sep, password = userinfo.partition(":")
    return (urlunsplit(parts._replace(netloc=host)), unquote(user),
            unquote(password) if sep else None)


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
