"""Scoring transcripts against references, for the real-weight tests and benchmarks."""

from __future__ import annotations

import re


def words(text: str) -> list[str]:
    """Lower case, hyphens split, punctuation dropped (apostrophes kept)."""
    return re.sub(r"[^\w\s']", " ", text.lower().replace("-", " ")).split()


def wer(ref: list[str], hyp: list[str]) -> float:
    """Word error rate: word-level edit distance over the reference's length."""
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1] / max(1, len(ref))
