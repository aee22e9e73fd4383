"""Output file names: a safe stem per input, distinct for every input of one batch.

A stem never leaves the output folder (no separators, no leading dot or dash, no control
characters), stays short enough for a file name with any extension and the temporary name
used while writing, and two inputs of one batch never share one (``a/clip.mp4`` and
``b/clip.mp4`` give ``clip`` and ``clip-b``). Across runs, ``settle_stems`` keeps each input
the name its outputs already have and steers it off names whose outputs belong to another
input (the ledger knows which). Stems are compared case-insensitively because macOS and
Windows file systems are.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import re
import unicodedata
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

# UTF-8 bytes of a stem: leaves room in a 255-byte file name for ".chapters.txt" and the
# ".NAME.XXXXXXXX.tmp" form used while writing.
MAX_STEM_BYTES = 120
FALLBACK_STEM = "video"
# Characters that separate paths or are not allowed in Windows file names.
_UNSAFE = re.compile(r'[/\\<>:"|?*]')
_WINDOWS_RESERVED = frozenset(
    ["CON", "PRN", "AUX", "NUL"] + [f"{p}{i}" for p in ("COM", "LPT") for i in range(1, 10)]
)


def sanitize_stem(name: str, max_bytes: int = MAX_STEM_BYTES) -> str:
    """A file-name stem that is safe in any output folder, or ``"video"`` if nothing is left."""
    return _clean(name, max_bytes) or FALLBACK_STEM


def _clean(name: str, max_bytes: int) -> str:
    text = unicodedata.normalize("NFC", str(name))
    # Control and format characters (newlines, bidi overrides...) go entirely.
    text = "".join(ch for ch in text if unicodedata.category(ch) not in ("Cc", "Cf", "Cs"))
    text = _UNSAFE.sub("_", text)
    text = " ".join(text.split())
    text = text.lstrip(" .-_").rstrip(" .")
    text = _cut_bytes(text, max_bytes).rstrip(" .")
    if text and text.split(".")[0].upper() in _WINDOWS_RESERVED:
        text = f"{text}_"
    return text


def output_stems(paths: Sequence[Path]) -> dict[Path, str]:
    """A distinct, safe stem for every path: the plain stem when no other path shares it.

    Among paths that share a stem, the first in sorted order keeps it; the others get the
    first free suffix of: their folder's name, their extension, a short hash of the full path.
    The same set of paths always gives the same names, whatever order they come in.
    """
    unique = list(dict.fromkeys(Path(p) for p in paths))
    bases = {p: sanitize_stem(p.stem) for p in unique}
    taken = {b.casefold() for b in bases.values()}
    given: set[str] = set()
    stems: dict[Path, str] = {}
    for p in sorted(unique, key=lambda p: (str(p).casefold(), str(p))):
        base = bases[p]
        if base.casefold() not in given:
            stem = base
        else:
            stem = next(c for c in _candidates(p, base) if c.casefold() not in taken)
        given.add(stem.casefold())
        taken.add(stem.casefold())
        stems[p] = stem
    return stems


def settle_stems(stems: Mapping[Path, str], kept: Mapping[Path, str],
                 taken: Callable[[Path, str], bool]) -> dict[Path, str]:
    """``stems`` (from ``output_stems``) made distinct from earlier runs' outputs too.

    An input in ``kept`` keeps that stem (its outputs already have it) unless another input
    of this batch kept it first; any other input whose stem another input's outputs already
    have (``taken(path, stem)``) gets the first free candidate, as ``output_stems`` gives
    within a batch. Inputs are settled in sorted order, so the outcome is the same whatever
    order they come in.
    """
    order = sorted(stems, key=lambda p: (str(p).casefold(), str(p)))
    given: set[str] = set()
    settled: dict[Path, str] = {}
    for p in order:
        stem = kept.get(p)
        if stem is not None and stem.casefold() not in given:
            settled[p] = stem
            given.add(stem.casefold())
    for p in (p for p in order if p not in settled):
        stem = stems[p]
        if stem.casefold() in given or taken(p, stem):
            stem = next(c for c in _candidates(p, sanitize_stem(p.stem))
                        if c.casefold() not in given and not taken(p, c))
        settled[p] = stem
        given.add(stem.casefold())
    return settled


def _candidates(path: Path, base: str) -> Iterator[str]:
    digest = hashlib.sha256(os.path.abspath(path).encode("utf-8", "surrogateescape"))
    short = digest.hexdigest()[:8]
    suffixes = itertools.chain([path.parent.name, path.suffix.lstrip("."), short],
                               (f"{short}-{n}" for n in itertools.count(2)))
    for suffix in suffixes:
        clean = _clean(suffix, 40)
        if clean:
            room = MAX_STEM_BYTES - len(clean.encode("utf-8")) - 1
            yield f"{sanitize_stem(base, max_bytes=room)}-{clean}"


def _cut_bytes(text: str, max_bytes: int) -> str:
    """``text`` cut to at most ``max_bytes`` of UTF-8, never inside a character."""
    data = text.encode("utf-8", "surrogatepass")
    if len(data) <= max_bytes:
        return text
    return data[:max_bytes].decode("utf-8", "ignore")
