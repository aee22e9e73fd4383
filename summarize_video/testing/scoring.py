"""Scoring transcripts against references, for the real-weight tests and benchmarks."""

from __future__ import annotations

import re


def words(text: str) -> list[str]:
    """Lower case, hyphenated words joined ("pre-eminence" as "preeminence"), punctuation
    dropped (apostrophes kept)."""
    return re.sub(r"[^\w\s']", " ", re.sub(r"(?<=\w)-(?=\w)", "", text.lower())).split()


def reference_text(raw: str) -> str:
    """The text of a shared-media reference file: its last line (the lines before say where
    it comes from), without a leading label such as ``text (normalised):``."""
    last = [line for line in raw.splitlines() if line.strip()][-1]
    return re.sub(r"^\s*[\w ()]{1,40}:\s+(?=\S)", "", last) if ":" in last[:42] else last


def wer(ref: list[str], hyp: list[str]) -> float:
    """Word error rate: word-level edit distance over the reference's length."""
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1] / max(1, len(ref))
