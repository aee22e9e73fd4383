"""Model and file text made inert for a Markdown file, as the HTML report escapes it.

A summary, caption or title is untrusted: a Markdown previewer would run its raw HTML
(``<script>``, ``<img onerror=...>``), follow its ``javascript:`` links and fetch its remote
images (a tracking beacon the moment the file is opened). So ``<`` and ``>`` become ``&lt;``
and ``&gt;`` (HTML shows as text), images become their alt text and address in a code span
(never fetched), and a link is kept only when it points at ``http(s)://``, ``mailto:`` or an
anchor in the page; any other link becomes its text and its address in a code span. Reference
definitions and reference-style images are escaped so that they are text too. Everything
else, plain text and ordinary Markdown, is left as written.
"""

from __future__ import annotations

import html
import re

# ``[text](target "title")`` and ``![alt](target)``: one level of parentheses in the target
# (``https://en.wikipedia.org/wiki/A_(b)``).
_LINK = re.compile(r"(!?)\[((?:[^\[\]\\]|\\.)*)\]\(\s*((?:[^()\s]|\([^()\s]*\))*)"
                   r"(?:\s+(?:\"[^\"]*\"|'[^']*'|\([^()]*\)))?\s*\)")
# ``[id]: target`` at the start of a line (up to 3 spaces in), and ``![alt][id]`` / ``![id]``.
_DEFINITION = re.compile(r"^( {0,3})\[(?=(?:[^\[\]\\]|\\.)*\]:)", re.MULTILINE)
_IMAGE_START = re.compile(r"!\[")
_SAFE_SCHEMES = ("http", "https", "mailto")
_SCHEME = re.compile(r"^([a-z][a-z0-9+.\-]*):", re.IGNORECASE)
# What browsers drop from a URL before they read its scheme (``java\tscript:``).
_IGNORED = re.compile(r"[\x00-\x20\x7f]")


def safe_markdown(text: str) -> str:
    """``text`` (Markdown, several lines) with raw HTML escaped, images and unsafe links
    turned into text."""
    text = str(text).replace("<", "&lt;").replace(">", "&gt;")
    text = _LINK.sub(_link, text)
    text = _IMAGE_START.sub(r"!\\[", text)
    return _DEFINITION.sub(r"\1\\[", text)


def safe_inline(text: str) -> str:
    """``safe_markdown`` of ``text`` on one line (a list item or a heading)."""
    return safe_markdown(" ".join(str(text).split()))


def is_safe_target(target: str) -> bool:
    """Whether a link may point at ``target``: ``http(s)``, ``mailto`` or ``#anchor``."""
    plain = _IGNORED.sub("", html.unescape(target)).strip("<>")
    if plain.startswith("#"):
        return True
    match = _SCHEME.match(plain)
    return bool(match) and match.group(1).lower() in _SAFE_SCHEMES


def _link(match: re.Match[str]) -> str:
    bang, label, target = match.group(1), match.group(2), match.group(3)
    if not bang and is_safe_target(target):
        return match.group(0)
    shown = target.replace("`", "'")
    kind = "image" if bang else "link"
    return f"{label} ({kind}: `{shown}`)" if label.strip() else f"({kind}: `{shown}`)"
