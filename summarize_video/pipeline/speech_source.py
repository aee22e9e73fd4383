"""Where a file's transcript comes from: its subtitles, or speech recognition.

``--transcript auto`` uses a text subtitle track of the file or a subtitle file next to it when
there is one, else speech recognition; ``subtitles`` requires subtitles (none is an
``InputError``); ``asr`` never looks for them. Among several, the track or sidecar whose
language matches ``--language`` wins, else the file's default text track, else its first, else
``NAME.srt``/``NAME.vtt``, else the first ``NAME.LANG.*`` by name. Bitmap tracks are skipped
with a note. Subtitle transcripts are not cached (reading them costs little).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..limits import MAX_SUBTITLE_BYTES
from ..media.probe import MediaInfo
from ..media.subtitle_tracks import SubtitleTrack, track_cues
from ..options import TRANSCRIPT_ASR as ASR
from ..options import TRANSCRIPT_SUBTITLES as SUBTITLES
from ..options import Options
from ..transcription.base import Transcript
from ..transcription.subtitles_in import (
    Sidecar,
    as_transcript,
    choose,
    find_sidecars,
    read_sidecar,
    segments,
)
from .fingerprint import backend_name
from .stages import Staged

STAGE = "subtitles"
FIX_NONE = ("add a text subtitle track or a NAME.srt / NAME.vtt file next to it, or pass "
            "--transcript auto (or asr) to use speech recognition")
NOTE_BITMAP = ("Subtitle track {index} ({codec}) holds pictures, not text: it was skipped.")
NOTE_EMPTY = "The subtitles ({what}) hold no text: they were not used."
NOTE_UNREAD = "The subtitles ({what}) could not be used: {why}"
NOTE_TRUNCATED = ("The subtitles ({what}) hold more than {limit} MiB of text: only the first "
                  "{limit} MiB were read.")
NOTE_BROKEN = "{count} cue(s) of the subtitles ({what}) had unreadable timestamps and were skipped."
NOTE_FROM_SUBTITLES = ("The transcript is the subtitles ({what}, language {language}), not speech "
                       "recognition: wording and timing are the subtitle author's.")
NOTE_FROM_ASR = "The transcript comes from speech recognition ({backend}, language {language})."


@dataclass(frozen=True)
class Plan:
    """The subtitles a file offers, in the order they would be used, and the notes so far."""

    candidates: tuple[SubtitleTrack | Sidecar, ...] = ()
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Heard:
    """The transcript stage's outcome: the transcript (None: speech recognition must make
    it), where it came from (the result's ``speech.source``) and notes for the result."""

    transcript: Staged[Transcript] | None
    source: dict[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()


def plan(path: str | Path, info: MediaInfo, o: Options, local: bool = True) -> Plan:
    """The subtitles of ``path`` to try, best first (see the module doc). ``local``: the
    file is where the user put it (a download has no sidecars). Raises ``InputError`` under
    ``--transcript subtitles`` when there are none."""
    if o.transcript_source == ASR:
        return Plan()
    notes = tuple(NOTE_BITMAP.format(index=t.index, codec=t.codec)
                  for t in info.subtitles if t.bitmap)
    texts = [t for t in info.subtitles if not t.bitmap]
    sidecars = find_sidecars(path) if local else []
    ranked: list[SubtitleTrack | Sidecar] = [*texts, *sidecars]
    pairs = [(t.language, t.default) for t in texts] + [(s.language, False) for s in sidecars]
    best = choose(pairs, o.language)
    if best is None and o.transcript_source == SUBTITLES:
        bitmap = " (its only subtitles are pictures)" if notes else ""
        raise InputError(f"no text subtitles in the file or next to it{bitmap}",
                         path=str(path), stage=STAGE, hint=FIX_NONE)
    if best is not None:
        ranked.insert(0, ranked.pop(best))
    return Plan(tuple(ranked[:1]), notes)


def read(path: str | Path, p: Plan, o: Options) -> Heard:
    """The transcript from the planned subtitles, or a ``Heard`` without one (fall back to
    speech recognition) with notes saying why. Under ``--transcript subtitles`` subtitles
    that cannot be used are an ``InputError``."""
    if not p.candidates:
        return Heard(None, notes=p.notes)
    chosen = p.candidates[0]
    what = describe(chosen)
    t0 = time.perf_counter()
    notes = list(p.notes)
    try:
        if isinstance(chosen, Sidecar):
            parsed = read_sidecar(chosen)
            found, broken, language = parsed.segments, parsed.broken, chosen.language
        else:
            cues = track_cues(path, chosen.index, MAX_SUBTITLE_BYTES, o.decode_timeout or None)
            found, broken, language = segments(cues.cues), 0, chosen.language
            if cues.truncated:
                notes.append(NOTE_TRUNCATED.format(what=what, limit=MAX_SUBTITLE_BYTES >> 20))
    except InputError as exc:
        if o.transcript_source == SUBTITLES:
            raise
        return Heard(None, notes=(*notes, NOTE_UNREAD.format(what=what, why=exc.message)))
    if broken:
        notes.append(NOTE_BROKEN.format(count=broken, what=what))
    if not found:
        if o.transcript_source == SUBTITLES:
            raise InputError(f"the subtitles ({what}) hold no text", path=str(path),
                             stage=STAGE, hint=FIX_NONE)
        return Heard(None, notes=(*notes, NOTE_EMPTY.format(what=what)))
    transcript = as_transcript(found, language)
    source = source_of(chosen, transcript.language)
    notes.append(NOTE_FROM_SUBTITLES.format(what=what,
                                            language=transcript.language or "not given"))
    return Heard(Staged(transcript, {"subtitles": time.perf_counter() - t0}),
                 source, tuple(notes))


def from_asr(staged: Staged[Transcript], transcriber: Any, notes: tuple[str, ...]) -> Heard:
    """A speech-recognition transcript, its source and notes."""
    t = staged.value
    source = {"kind": ASR, "backend": backend_name(transcriber),
              "model": getattr(transcriber, "model_id", None), "language": t.language}
    if t.segments:
        notes = (*notes, NOTE_FROM_ASR.format(backend=source["backend"],
                                              language=t.language or "unknown"))
    return Heard(staged, source, notes)


def describe(chosen: SubtitleTrack | Sidecar) -> str:
    if isinstance(chosen, Sidecar):
        return f"file {chosen.path.name}"
    return f"track {chosen.index}, {chosen.codec}"


def source_of(chosen: SubtitleTrack | Sidecar, language: str | None) -> dict[str, Any]:
    """The result's ``speech.source`` for subtitles."""
    if isinstance(chosen, Sidecar):
        return {"kind": SUBTITLES, "from": "sidecar", "file": chosen.path.name,
                "language": language}
    return {"kind": SUBTITLES, "from": "stream", "stream": chosen.index, "codec": chosen.codec,
            "language": language, "title": chosen.title}
