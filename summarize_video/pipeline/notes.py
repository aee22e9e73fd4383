"""Notes on what a file lacks or how it misleads, shown with its summary and given to the LLM."""

from __future__ import annotations

from ..media.probe import MediaInfo
from ..timeline import format_timestamp
from ..transcription.base import FLAG_MUSIC_OR_NOISE, Transcript

NOTE_NO_AUDIO = "The file has no audio track: the summary rests on the pictures alone."
NOTE_NO_AUDIO_SUBTITLES = "The file has no audio track: what is said comes from its subtitles."
NOTE_NO_VIDEO = "The file has no video track: the summary rests on the speech alone."
NOTE_NO_SPEECH = "No speech was recognized in the audio track."
NOTE_MUSIC_OR_NOISE = ("The audio track has sound but no confident speech (music or noise?): "
                       "nothing was transcribed.")
NOTE_LYING_HEADER = ("The file's header claims a duration of {claimed}, but its streams end at "
                     "{real}: the summary covers what is there.")
NOTE_TRUNCATED = ("The file ends before its last MP4 box does (cut short, or still being "
                  "written): the summary covers what is there.")


def media_notes(info: MediaInfo, transcript: Transcript) -> list[str]:
    """The notes for a file of ``info`` whose audio gave ``transcript``."""
    notes = []
    if not info.has_audio:
        notes.append(NOTE_NO_AUDIO_SUBTITLES if transcript.segments else NOTE_NO_AUDIO)
    elif FLAG_MUSIC_OR_NOISE in transcript.flags:
        notes.append(NOTE_MUSIC_OR_NOISE)
    elif not transcript.segments:
        notes.append(NOTE_NO_SPEECH)
    if not info.has_video:
        notes.append(NOTE_NO_VIDEO)
    if info.truncated:
        notes.append(NOTE_TRUNCATED)
    if info.claimed_duration_s is not None and info.duration_s is not None:
        notes.append(NOTE_LYING_HEADER.format(claimed=format_timestamp(info.claimed_duration_s),
                                              real=format_timestamp(info.duration_s)))
    return notes
