"""A silence gate on audio energy: where in a clip there is sound worth sending to whisper.

whisper invents text on silence and near-silence ("Thank you for watching"). The gate finds
the stretches whose short-frame loudness rises clearly above both digital silence and the
recording's own noise floor; everything else is never shown to the model.

Levels are RMS over 30 ms frames in dBFS (0 dB = a full-scale square wave; a full-scale sine is
-3 dB). Figures measured on the shared media decoded with ``load_audio`` (PyAV, 16 kHz mono;
PyAV's downmix is ~3 dB louder than ffmpeg's ``-ac 1``, so ffmpeg's figures read ~3 dB lower).
"floor" is the noise floor below, "open/hold" the thresholds ``thresholds`` derives from it:

- near-silent green-screen track: digital zero except a 60 ms click at 0.00-0.06 s, frames
  -33..-37 dB, sample peak -22 dB (whole-track RMS -62.7 dB: the manifest's "-65 dB mean,
  -23 dB max"). Regions: none (the click is shorter than ``min_speech``).
- timecode example: speech frames -12..-26 dB over 0-17.3 s (pauses down to -42), digital
  zero, a beep at 39.96-40.44 s (-18 dB); floor -51.5, open/hold -39.5/-48.5. Regions:
  0.00-17.52 and 39.66-40.77 s.
- JFK (16 kHz wav): words -8..-16 dB, pauses -38..-43 dB (tape hiss); floor -41.1, open/hold
  -30.0/-38.1. Regions: 0.00-2.49, 2.97-4.62, 5.10-11.00 s (the two long pauses cut).
- presentation (silencedetect: silences 7.7-13.1, 15.5-21.0, 23.4-28.8 s): speech -11..-25 dB,
  room tone -53 dB, then digital zero; floor -51.3, open/hold -39.3/-48.3. Regions:
  0.00-6.81, 12.75-15.84, 20.64-23.76, 28.44-31.51 s.
- Big Buck Bunny (music, effects, no speech): -54..-11 dB; floor -47.4. Region 6.66-22.44 s:
  music is sound; telling it from speech is left to whisper and the guards (``guards``).
- noisy restaurant, kinetic-text music: floor -27 and -12 dB; opening capped at -30 dB, one
  region over the whole clip.
- every word of the manifesto audiobook (210 words in .words.json; regions keep 78.7 of
  88.1 s) and of the drama clip (156 words in the whisperX word SRT; 57.6 of 60 s) lies inside
  a region.
- speed: an hour of 16 kHz audio in 0.07-0.10 s (2 shared cores).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Frame length for the RMS levels: short enough to find word edges, long enough to average
# over a few pitch periods.
FRAME_SECONDS = 0.03
# The opening threshold is at least this (dBFS): a frame must rise above it to start a region.
DEFAULT_THRESHOLD_DB = -45.0
# Quieter stretches shorter than this (s) do not split a region (pauses between sentences).
DEFAULT_MIN_SILENCE = 1.0
# Seconds added before and after every region so that soft word edges are not clipped.
DEFAULT_PAD = 0.3
# A region needs at least this many seconds of frames above the opening threshold: clicks,
# pops and codec priming transients (the near-silent file's 60 ms click) are not speech.
DEFAULT_MIN_SPEECH = 0.15
# Frames at or below this are digital silence and never count towards the noise floor.
DIGITAL_SILENCE_DB = -90.0
# Adaptive part: the opening threshold rises to the noise floor (10th percentile of the
# non-digital-silence frames) plus this margin, so steady hiss or hum between phrases is not
# "sound" ...
NOISE_MARGIN_DB = 12.0
# ... but by at most this much over ``threshold_db``: in a clip that is speech throughout the
# "noise floor" is quiet speech, and a higher threshold would start to clip it.
MAX_RAISE_DB = 15.0
NOISE_PERCENTILE = 10.0
# Hysteresis: once open, a region stays open while frames are above the opening threshold
# minus this, so decaying word endings and soft consonants stay inside ...
HYSTERESIS_DB = 10.0
# ... and above the noise floor plus this, so that steady hiss does not hold it open.
HOLD_MARGIN_DB = 3.0
_FLOOR_DB = -200.0  # level reported for all-zero frames


def frame_levels(samples: np.ndarray, sample_rate: int,
                 frame_seconds: float = FRAME_SECONDS) -> np.ndarray:
    """RMS level in dBFS of consecutive ``frame_seconds`` frames (the last one may be short)."""
    x = np.asarray(samples, dtype=np.float32).reshape(-1)
    size = max(1, round(frame_seconds * sample_rate))
    if x.size == 0:
        return np.zeros(0, dtype=np.float64)
    whole = x.size // size
    energy = np.empty(whole + (1 if x.size % size else 0), dtype=np.float64)
    if whole:
        frames = x[: whole * size].reshape(whole, size)
        # einsum: sum of squares per frame without a second full-length array in memory.
        energy[:whole] = np.einsum("ij,ij->i", frames, frames, dtype=np.float64) / size
    if energy.size > whole:
        tail = x[whole * size:].astype(np.float64)
        energy[whole] = float(np.dot(tail, tail)) / tail.size
    with np.errstate(divide="ignore"):
        levels = 10.0 * np.log10(energy)
    return np.maximum(levels, _FLOOR_DB)


def thresholds(levels: np.ndarray, threshold_db: float = DEFAULT_THRESHOLD_DB
               ) -> tuple[float, float]:
    """The opening and holding levels (dBFS) for frames with these ``levels``.

    Opening: ``threshold_db`` raised towards the noise floor (``NOISE_MARGIN_DB`` over it, at
    most ``MAX_RAISE_DB`` over ``threshold_db``). Holding: ``HYSTERESIS_DB`` below opening but
    ``HOLD_MARGIN_DB`` above the noise floor, and never above opening.
    """
    sound = levels[levels > DIGITAL_SILENCE_DB]
    if sound.size == 0:
        return threshold_db, threshold_db - HYSTERESIS_DB
    floor = float(np.percentile(sound, NOISE_PERCENTILE))
    opening = min(max(threshold_db, floor + NOISE_MARGIN_DB), threshold_db + MAX_RAISE_DB)
    holding = min(opening, max(opening - HYSTERESIS_DB, floor + HOLD_MARGIN_DB))
    return float(opening), float(holding)


def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start indices and (exclusive) end indices of the runs of True in ``mask``."""
    edges = np.diff(np.concatenate(([0], mask.view(np.int8), [0])))
    return np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)


def speech_regions(
    samples: np.ndarray,
    sample_rate: int,
    *,
    threshold_db: float = DEFAULT_THRESHOLD_DB,
    min_silence: float = DEFAULT_MIN_SILENCE,
    pad: float = DEFAULT_PAD,
    min_speech: float = DEFAULT_MIN_SPEECH,
) -> list[tuple[float, float]]:
    """``(start, end)`` seconds of the stretches of ``samples`` that hold sound, in order.

    A region opens at a frame louder than the opening threshold (``threshold_db``, raised
    towards the noise floor) and extends over neighbouring frames above the holding threshold
    (see ``thresholds``). Quieter gaps shorter than ``min_silence`` are bridged;
    regions with less than ``min_speech`` seconds above the opening threshold are dropped; the
    rest are widened by ``pad`` on each side (clipped to the clip). Times are measured from the
    first sample; precision is one frame (30 ms).
    """
    if sample_rate <= 0:
        raise ValueError(f"sample rate must be positive, got {sample_rate}")
    levels = frame_levels(samples, sample_rate)
    if levels.size == 0:
        return []
    duration = np.asarray(samples).size / sample_rate
    frame = max(1, round(FRAME_SECONDS * sample_rate)) / sample_rate
    open_db, hold_db = thresholds(levels, threshold_db)
    return regions_from_frames(levels > open_db, levels > hold_db, frame, duration,
                               min_silence=min_silence, pad=pad, min_speech=min_speech)


def regions_from_frames(loud: np.ndarray, held: np.ndarray, frame: float, duration: float, *,
                        min_silence: float, pad: float, min_speech: float
                        ) -> list[tuple[float, float]]:
    """Regions from per-frame decisions of any detector (the energy gate's levels, the Silero
    VAD's probabilities): runs of ``held`` frames that contain a ``loud`` one, gaps shorter
    than ``min_silence`` bridged, regions with under ``min_speech`` seconds of ``loud`` frames
    dropped, the rest widened by ``pad`` and clipped to ``duration``. ``frame``: seconds per
    frame."""
    loud = np.asarray(loud, dtype=bool)
    held = np.asarray(held, dtype=bool) | loud
    if not loud.any():
        return []
    starts, ends = _runs(held)
    # Keep the runs that contain at least one frame above the opening threshold.
    loud_before = np.concatenate(([0], np.cumsum(loud)))
    keep = loud_before[ends] - loud_before[starts] > 0
    starts, ends = starts[keep], ends[keep]
    # Bridge gaps shorter than min_silence: a new region begins after each long gap.
    long_gap = (starts[1:] - ends[:-1]) * frame >= min_silence
    first = np.concatenate(([0], np.flatnonzero(long_gap) + 1))
    last = np.concatenate((first[1:] - 1, [starts.size - 1]))
    starts, ends = starts[first], ends[last]
    enough = (loud_before[ends] - loud_before[starts]) * frame >= min_speech
    starts, ends = starts[enough], ends[enough]
    regions: list[tuple[float, float]] = []
    for s, e in zip(starts * frame - pad, ends * frame + pad, strict=True):
        start, end = max(0.0, float(s)), min(duration, float(e))
        if regions and start <= regions[-1][1]:  # padding made two regions touch
            regions[-1] = (regions[-1][0], end)
        else:
            regions.append((start, end))
    return regions


@dataclass(frozen=True)
class Splice:
    """Speech regions cut out of a clip and joined with short gaps of digital silence.

    ``to_original`` maps a time in the joined audio back to the clip's own timeline exactly
    inside regions; a time inside an inserted gap snaps to the nearer edge that keeps its
    meaning (a segment's start to the next region's start, its end to the previous end).
    """

    # (start, end) seconds of each region in the original clip.
    regions: tuple[tuple[float, float], ...]
    # Start of each region in the joined audio, seconds.
    joined_starts: tuple[float, ...]

    def to_original(self, t: float, *, is_end: bool = False) -> float:
        if not self.regions:
            return t
        i = int(np.searchsorted(self.joined_starts, t, side="right")) - 1
        if i < 0:
            return self.regions[0][0]
        start, end = self.regions[i]
        mapped = start + (t - self.joined_starts[i])
        if mapped <= end:
            return mapped
        # In the gap after region i (or past the end of the joined audio).
        if is_end or i + 1 == len(self.regions):
            return end
        return self.regions[i + 1][0]

    def region_end(self, t: float) -> float:
        """The end, on the clip's timeline, of the region that a segment starting at joined
        time ``t`` is placed in: its end may not run past it, across a stretch the gate cut
        out (a time in a gap belongs to the next region, as ``to_original`` places it)."""
        if not self.regions:
            return t
        i = max(int(np.searchsorted(self.joined_starts, t, side="right")) - 1, 0)
        start, end = self.regions[i]
        if start + (t - self.joined_starts[i]) <= end or i + 1 == len(self.regions):
            return end
        return self.regions[i + 1][1]


def splice(samples: np.ndarray, sample_rate: int, regions: list[tuple[float, float]],
           gap: float = 0.5) -> tuple[np.ndarray, Splice]:
    """The samples of ``regions`` joined with ``gap`` seconds of zeros, and the time map."""
    x = np.asarray(samples, dtype=np.float32).reshape(-1)
    zeros = np.zeros(round(gap * sample_rate), dtype=np.float32)
    parts: list[np.ndarray] = []
    exact: list[tuple[float, float]] = []
    joined_starts: list[float] = []
    position = 0
    for start, end in regions:
        a, b = round(start * sample_rate), min(x.size, round(end * sample_rate))
        if b <= a:
            continue
        if parts:
            parts.append(zeros)
            position += zeros.size
        joined_starts.append(position / sample_rate)
        exact.append((a / sample_rate, b / sample_rate))
        parts.append(x[a:b])
        position += b - a
    if len(parts) == 1:  # one region: a view, no copy (an hour of audio is 230 MB)
        return parts[0], Splice(tuple(exact), tuple(joined_starts))
    joined = np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)
    return joined, Splice(tuple(exact), tuple(joined_starts))
