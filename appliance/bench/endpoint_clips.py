"""The endpoint bench's clips: real sentences, with and without a pause inserted mid-clause, and Piper requests.

The sentences are cut from moonshine-voice's recordings (pinned by sha256 in the
manifest, so the times below stay true).  Each also comes with a 0.5-0.8 s pause
inserted after a word in the middle of a clause (room tone from the same
recording), where a person stops to think.  The Piper requests are complete.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from appliance.audio import SAMPLE_RATE
from appliance.cli.converse import voiced_segments

PAUSES_S = (0.5, 0.65, 0.8)
"""Inserted pause lengths, used in turn."""
LEAD_S = 0.3
TAIL_S = 2.0
"""Room tone after the speech: more than vad.end_silence_max_s."""


@dataclass(frozen=True)
class Sentence:
    """A stretch of a recording that is one request-like utterance, and where a speaker could stop mid-clause."""

    recording: str
    """Manifest name of the recording."""
    start_s: float
    end_s: float
    """Slice bounds: a little room tone before the speech, to just past its end."""
    text: str
    pauses: tuple[tuple[float, str], ...] = ()
    """(seconds, the word it follows): ends of words after which the clause goes on ("the", "of",
    "was", "and", ...), Whisper's word times moved to the quietest 10 ms before the next word."""
    continuous: bool = False
    """Two clauses with the reader's own 0.24-0.4 s pause between them (a pause at a clause boundary)."""


_TC, _EG, _BE = "speech-two-cities", "speech-endgame", "speech-beckett"
SENTENCES = (
    Sentence(
        _TC,
        0.95,
        4.69,
        "It was the best of times, it was the worst of times.",
        ((1.71, "the"), (2.14, "of"), (3.24, "was"), (3.39, "the"), (3.9, "of")),
    ),
    Sentence(_TC, 4.79, 6.37, "It was the age of wisdom,", ((5.35, "the"), (5.73, "of"))),
    Sentence(_TC, 6.39, 8.37, "it was the age of foolishness.", ((7.39, "of"),)),
    Sentence(_TC, 8.55, 10.45, "It was the epoch of belief,", ((9.18, "the"), (9.76, "of"))),
    Sentence(_TC, 10.55, 12.93, "it was the epoch of incredulity."),
    Sentence(_TC, 13.19, 14.93, "It was the season of light,", ((14.29, "of"),)),
    Sentence(_TC, 14.95, 16.85, "it was the season of darkness.", ((15.96, "of"),)),
    Sentence(
        _TC,
        17.27,
        20.61,
        "It was the spring of hope, it was the winter of despair.",
        ((18.35, "of"), (19.19, "was"), (19.4, "the"), (19.88, "of")),
    ),
    Sentence(_TC, 20.95, 24.13, "We had everything before us, we had nothing before us.", ((22.92, "had"),)),
    Sentence(_TC, 24.39, 26.21, "We were all going direct to Heaven,"),
    Sentence(_TC, 26.31, 28.37, "we were all going direct the other way."),
    Sentence(
        _TC,
        29.85,
        32.37,
        "the period was so far like the present period,",
        ((30.56, "was"), (30.79, "so"), (31.29, "like"), (31.48, "the")),
    ),
    Sentence(
        _TC,
        32.47,
        41.81,
        "that some of its noisiest authorities insisted on its being received, for good or for evil, "
        "in the superlative degree of comparison only.",
        ((33.15, "of"), (35.43, "on"), (37.09, "for"), (38.9, "the"), (40.35, "of")),
    ),
    Sentence(_EG, 0.0, 1.01, "Do you hear me?"),
    Sentence(_EG, 2.23, 3.41, "Do you hear me?"),
    Sentence(
        _EG,
        4.63,
        8.21,
        "We laugh less heartily so we have still that resource.",
        ((6.62, "we"), (6.71, "have"), (7.27, "that")),
    ),
    Sentence(_EG, 17.35, 18.93, "What are you talking about?"),
    Sentence(_EG, 20.15, 21.97, "You thought you were in pain.", ((21.17, "were"), (21.45, "in"))),
    Sentence(
        _EG,
        23.51,
        27.57,
        "Do you remember the day I went and fetched you from that ditch?",
        ((24.6, "the"), (25.73, "and"), (26.61, "from")),
    ),
    Sentence(_BE, 0.07, 1.25, "Ever tried."),
    Sentence(_BE, 1.59, 2.85, "Ever failed."),
    Sentence(_BE, 3.27, 4.29, "No matter."),
    Sentence(_BE, 4.63, 5.65, "Try again."),
    Sentence(_BE, 6.39, 7.49, "Fail again."),
    Sentence(_BE, 7.91, 8.93, "Fail better."),
    Sentence(_TC, 4.79, 8.37, "It was the age of wisdom, it was the age of foolishness.", continuous=True),
    Sentence(_TC, 8.55, 12.93, "It was the epoch of belief, it was the epoch of incredulity.", continuous=True),
    Sentence(_TC, 13.19, 16.85, "It was the season of light, it was the season of darkness.", continuous=True),
    Sentence(_TC, 24.39, 28.37, "We were all going direct to Heaven, we were all going direct ...", continuous=True),
    Sentence(_TC, 28.87, 41.81, "In short, the period was so far like the present period, that ...", continuous=True),
)
"""Silero's speech runs in the recordings (80 ms frames, threshold 0.5) are the utterances; the
continuous ones join two of them across the reader's pause after a comma.  Every pause point was
checked by transcribing the audio up to it with Whisper: the transcript ends with that word."""
REQUESTS = (
    "What is the capital of France?",
    "What time is it?",
    "Tell me a joke about cats.",
    "How far away is the moon?",
    "Set a timer for ten minutes.",
    "Turn on the kitchen light.",
    "Who wrote Romeo and Juliet?",
    "Add milk and eggs to the shopping list.",
)
"""Requests the Piper voice speaks (complete; Piper's pauses are too short to insert one at a word)."""


@dataclass(frozen=True)
class Clip:
    label: str
    audio: np.ndarray
    """16 kHz int16: lead room tone, the speech (with any inserted pause), room tone after."""
    speech_end_s: float
    """Where the speech ends in ``audio`` (the last voiced 20 ms)."""
    pause_s: float = 0.0
    """Length of the pause inserted mid-clause (0 = none)."""
    kind: str = "whole"
    """``whole`` (one utterance), ``paused`` (a pause inserted mid-clause) or ``continuous``."""
    pause_from_s: float | None = None
    """Where the inserted pause starts in ``audio``."""

    def closed_in_pause(self, at_s: float) -> bool:
        """Whether an endpoint at ``at_s`` fell inside the inserted pause (or the frame after it)."""
        if self.pause_from_s is None:
            return False
        return self.pause_from_s <= at_s <= self.pause_from_s + self.pause_s + 0.08


def room_tone(recording: np.ndarray, seconds: float) -> np.ndarray:
    """``seconds`` of the recording's quietest 0.4 s, repeated: what the room sounds like in a pause."""
    step = int(0.4 * SAMPLE_RATE)
    blocks = recording[: len(recording) // step * step].astype(np.float32).reshape(-1, step)
    quiet = recording[int(np.argmin((blocks**2).mean(axis=1))) * step :][:step]
    return np.resize(quiet, int(seconds * SAMPLE_RATE)).astype(np.int16)


def _speech_end(audio: np.ndarray) -> float:
    segments = voiced_segments(audio)
    return float(segments[-1][1]) if segments else 0.0


def sentence_clip(
    recording: np.ndarray, sentence: Sentence, pause_at_s: float | None = None, pause_s: float = 0.0
) -> Clip:
    """A clip of ``sentence`` from its ``recording``, with a pause inserted at ``pause_at_s`` if given."""
    cut = lambda t: round(t * SAMPLE_RATE)  # noqa: E731 - a local unit conversion
    parts = [room_tone(recording, LEAD_S)]
    if pause_at_s is None:
        parts.append(recording[cut(sentence.start_s) : cut(sentence.end_s)])
    else:
        parts += [
            recording[cut(sentence.start_s) : cut(pause_at_s)],
            room_tone(recording, pause_s),
            recording[cut(pause_at_s) : cut(sentence.end_s)],
        ]
    speech = np.concatenate(parts)
    audio = np.concatenate([speech, room_tone(recording, TAIL_S)])
    name = sentence.recording.removeprefix("speech-")
    label = f"{name}@{sentence.start_s:g}" + (f" +{pause_s:g}s pause at {pause_at_s:g}" if pause_at_s else "")
    kind = "paused" if pause_at_s is not None else "continuous" if sentence.continuous else "whole"
    pause_from = None if pause_at_s is None else LEAD_S + pause_at_s - sentence.start_s
    return Clip(label, audio, _speech_end(speech), pause_s, kind, pause_from)


def spoken_clip(text: str, speech: np.ndarray) -> Clip:
    """A clip of a Piper-spoken request (digital silence around it, as Piper makes it)."""
    lead, tail = np.zeros(int(LEAD_S * SAMPLE_RATE), np.int16), np.zeros(int(TAIL_S * SAMPLE_RATE), np.int16)
    return Clip(f"piper: {text}", np.concatenate([lead, speech, tail]), LEAD_S + _speech_end(speech))


def sentence_clips(load: Callable[[str], np.ndarray]) -> Iterator[Clip]:
    """Every sentence whole, then with each of its pauses (lengths from PAUSES_S in turn)."""
    paused = 0
    for sentence in SENTENCES:
        recording = load(sentence.recording)
        yield sentence_clip(recording, sentence)
        for at, _word in () if sentence.continuous else sentence.pauses:
            yield sentence_clip(recording, sentence, at, PAUSES_S[paused % len(PAUSES_S)])
            paused += 1
