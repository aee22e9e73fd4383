"""Credentials out of anything written or shown: URLs with ``user:password@``, known keys."""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlsplit, urlunsplit

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
    text = _USERINFO.sub(rf"\1{MASK}@", text)
    for secret in secrets:
        if secret and len(secret) >= MIN_SECRET:
            text = text.replace(secret, MASK)
    return text


def url_userinfo(url: str) -> tuple[str, str | None, str | None]:
    """``(url without userinfo, user, password)``, percent-escapes in the user and password
    decoded; ``(url, None, None)`` when it has none."""
    from urllib.parse import unquote

    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url, None, None
    userinfo, host = parts.netloc.rsplit("@", 1)
    user, sep, password = userinfo.partition(":")
    return (urlunsplit(parts._replace(netloc=host)), unquote(user),
            unquote(password) if sep else None)
