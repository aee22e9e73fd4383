"""Long audio in bounded pieces for whisper, cut where it is silent.

whisper computes the log-mel spectrogram of its whole input at once (an hour of audio: about
1 GiB), so long recordings are transcribed piece by piece. ``pieces`` takes the consecutive
chunks ``audio.iter_audio`` decodes and moves each cut into a silence near the chunk's end:
the audio after that silence is carried over into the next piece, so no word is split. The
carry is bounded: without a silence near the end, the cut goes to the quietest stretch there.
``SpeechBatch`` joins the gated speech of consecutive pieces into whisper runs of about the
same length of speech.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np

from ..media.audio import AudioClip
from .silence import FRAME_SECONDS, Splice, frame_levels, speech_regions

# Seconds of audio decoded at a time, and of gated speech per whisper run: whisper's log-mel
# of 60 s (+30 s of padding) peaks at about 40 MiB, like a 1-minute video's.
DEFAULT_PIECE_S = 60.0
# At most this much audio (s), and at most half a chunk, is carried into the next piece.
MAX_CARRY_S = 30.0
# A silence to cut in: a stretch outside the speech regions at least this long (s) ...
CUT_MIN_GAP = 0.4
# ... cut in its middle, but at most this far (s) before the sound after it resumes.
CUT_GUARD = 1.0
# Without such a silence: the middle of the quietest run of this many 30 ms frames.
QUIET_FRAMES = 7


def cut_point(samples: np.ndarray, sample_rate: int, *, window: float,
              min_gap: float = CUT_MIN_GAP, guard: float = CUT_GUARD) -> float:
    """Seconds from the start of ``samples`` where to cut them without splitting a sound.

    The cut lies in the last silence (a stretch between ``speech_regions``, or before the first
    or after the last, at least ``min_gap`` long) that reaches into the last ``window`` seconds:
    at its middle, or ``guard`` seconds before its end when it is longer than twice that, never
    before the window. Without such a silence: the middle of the quietest ``QUIET_FRAMES``
    frames of the window (a pause between words rather than a stop consonant's closure).
    """
    x = np.asarray(samples, dtype=np.float32).reshape(-1)
    duration = x.size / sample_rate
    lo = max(0.0, duration - window)
    regions = speech_regions(x, sample_rate)
    edges = [0.0, *(t for region in regions for t in region), duration]
    for a, b in reversed(list(zip(edges[0::2], edges[1::2], strict=True))):
        if b <= lo:
            break
        if b - a >= min_gap:
            return max((a + b) / 2, b - guard, lo)
    first = round(lo * sample_rate)
    size = max(1, round(FRAME_SECONDS * sample_rate))
    levels = frame_levels(x[first:first + (x.size - first) // size * size], sample_rate)
    span = min(QUIET_FRAMES, levels.size)
    if span == 0:
        return duration
    # Energy averaged over ``span`` frames: a pause between words, not a stop consonant.
    energy = np.convolve(10.0 ** (levels / 10.0), np.ones(span), mode="valid")
    quietest = int(np.argmin(energy))
    return (first + quietest * size + span * size / 2) / sample_rate


def split_clip(clip: AudioClip, chunk_s: float) -> Iterator[AudioClip]:
    """``clip`` as consecutive clips of ``chunk_s`` seconds: views of its samples, no copy."""
    size = max(1, round(chunk_s * clip.sample_rate))
    for start in range(0, clip.samples.size, size):
        yield AudioClip(clip.samples[start:start + size], clip.sample_rate,
                        clip.offset + start / clip.sample_rate)


def pieces(chunks: Iterable[AudioClip], *, max_carry: float = MAX_CARRY_S
           ) -> Iterator[AudioClip]:
    """The audio of consecutive ``chunks`` again, with the cuts moved into silences.

    Every chunk but the last is cut at ``cut_point`` within its last ``max_carry`` seconds (at
    most half the chunk); what follows the cut goes in front of the next chunk. The last piece
    runs to the end of the last chunk, so a single chunk comes out unchanged (the same array).
    A chunk that does not follow the previous one on the timeline is not joined to it: the
    carry then goes out as a piece of its own. Empty chunks are skipped.
    """
    it = (c for c in chunks if not c.is_empty)
    current = next(it, None)
    carry: AudioClip | None = None
    while current is not None:
        following = next(it, None)  # decoded ahead: the last chunk is not cut
        window = min(max_carry, current.duration / 2)
        if carry is not None and not _follows(carry, current):
            yield carry
            carry = None
        block = current if carry is None else _join(carry, current)
        carry = current = None
        if following is None:
            yield block
            return
        rate = block.sample_rate
        cut = min(block.samples.size, round(cut_point(block.samples, rate, window=window) * rate))
        if cut < block.samples.size:  # a copy: the block's array is not kept alive by it
            carry = AudioClip(block.samples[cut:].copy(), rate, block.offset + cut / rate)
        if cut > 0:
            yield AudioClip(block.samples[:cut], rate, block.offset)
        del block
        current = following


def _follows(before: AudioClip, after: AudioClip) -> bool:
    """Whether ``after`` starts where ``before`` ends (within a sample), at the same rate."""
    end = before.offset + before.duration
    return (before.sample_rate == after.sample_rate
            and abs(after.offset - end) <= 1.0 / before.sample_rate)


def _join(before: AudioClip, after: AudioClip) -> AudioClip:
    samples = np.concatenate([before.samples, after.samples])
    return AudioClip(samples, before.sample_rate, before.offset)


class SpeechBatch:
    """The gated speech of consecutive pieces, joined for one whisper run.

    Each piece's speech regions come joined already (``silence.splice``); the pieces are joined
    the same way, with ``gap`` seconds of zeros, and one ``Splice`` maps times in the joined
    audio back to seconds from the first piece's start (``offset`` on the timeline). whisper
    then sees about ``chunk_s`` of speech per run however sparse the speech is: fewer runs,
    fewer half-empty 30 s windows.
    """

    def __init__(self, sample_rate: int, gap: float) -> None:
        self.rate = sample_rate
        self._gap = np.zeros(round(gap * sample_rate), dtype=np.float32)
        self._clear()

    def _clear(self) -> None:
        self.offset = 0.0
        self.heard = 0.0  # seconds of the pieces the speech was taken from
        self.count = 0  # pieces
        self._arrays: list[np.ndarray] = []
        self._regions: list[tuple[float, float]] = []
        self._starts: list[float] = []
        self._size = 0

    def __bool__(self) -> bool:
        return bool(self._arrays)

    def fits(self, samples: np.ndarray, seconds: float) -> bool:
        """Whether ``samples`` join without making the batch longer than ``seconds``."""
        return not self._arrays or self._size + self._gap.size + samples.size <= (
            seconds * self.rate)

    def add(self, samples: np.ndarray, spliced: Splice, offset: float, duration: float) -> None:
        """A piece's joined speech, its time map, where it starts and how long it is."""
        if not self._arrays:
            self.offset = offset
        else:
            self._arrays.append(self._gap)
            self._size += self._gap.size
        shift, position = offset - self.offset, self._size / self.rate
        self._regions += [(a + shift, b + shift) for a, b in spliced.regions]
        self._starts += [s + position for s in spliced.joined_starts]
        # A view would keep the piece's whole chunk alive: copy it.
        self._arrays.append(samples if samples.base is None else samples.copy())
        self._size += samples.size
        self.heard += duration
        self.count += 1

    def take(self) -> tuple[np.ndarray, Splice, float]:
        """The joined samples, their time map and the offset; the batch is empty after."""
        arrays = self._arrays
        samples = arrays[0] if len(arrays) == 1 else np.concatenate(arrays)
        taken = samples, Splice(tuple(self._regions), tuple(self._starts)), self.offset
        self._clear()
        return taken
