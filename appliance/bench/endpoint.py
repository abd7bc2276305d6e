"""``appliance bench --only endpoint``: how soon a request ends after its speech, and whether pauses cut it off.

The clips are real speech: whole sentences cut from moonshine-voice's recordings
(pinned by sha256 in the manifest, so the times below stay true) and the default
Piper voice's requests.  Each sentence also comes with a 0.5-0.8 s pause inserted
after a word in the middle of a clause (room tone from the same recording), where
a person stops to think.  Every clip goes through the real front end -- Silero VAD,
the :class:`~appliance.engines.vad.Segmenter`, smart-turn on its worker thread -- three times:
with the turn model alone, with the turn model whose early ends the transcript
confirms (the daemon's default: Whisper transcribes the request so far and
:func:`~appliance.voice.unfinished.unfinished` reads its last words, while the front
end listens on for as long as that took), and with the fixed ``vad.end_silence_s``.

- endpoint delay: endpoint minus the end of the speech (the last voiced 20 ms, as
  ``appliance converse`` measures it), on the audio timeline; with the transcript
  check, the endpoint is the turn model's verdict and ``confirmed`` is when the
  transcript came back and the front end stopped listening;
- cut-off: the request closed before its speech was over (at an inserted or natural pause);
- model: seconds per call, and the RSS the loaded model adds (a child process).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from appliance.audio import FRAME_SAMPLES, SAMPLE_RATE
from appliance.cli.converse import voiced_segments
from appliance.core.procstat import memory_mb
from appliance.engines.smart_turn import MODEL_NAME, WINDOW_S, TurnModel
from appliance.engines.vad import SpeechDetector
from appliance.settings import VadSettings
from appliance.voice.frontend import FrontEnd
from appliance.voice.messages import CaptureEnded, FrontEndMessage, SpeechResumed
from appliance.voice.unfinished import unfinished

Transcribe = Callable[[np.ndarray], tuple[str, float]]
"""Audio → (transcript, seconds it took)."""

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


class _NoWake:
    """The front end's wake-word seat, empty: these clips are requests already listened for."""

    names: tuple[str, ...] = ()

    def process(self, frame: np.ndarray, at_s: float) -> None:
        return None

    def observe(self, frame: np.ndarray) -> None:
        pass

    def reset(self) -> None:
        pass

    def restart(self) -> None:
        pass


class _NoSource:
    name = "clip"


class TimedTurnModel:
    """A turn model that keeps each call's seconds and answer."""

    def __init__(self, model: TurnModel) -> None:
        self.model = model
        self.seconds: list[float] = []
        self.answers: list[float] = []

    def completion(self, audio: np.ndarray) -> float:
        started = time.perf_counter()
        answer = self.model.completion(audio)
        self.seconds.append(time.perf_counter() - started)
        self.answers.append(answer)
        return answer


@dataclass(frozen=True)
class Endpoint:
    """Where one clip's request was closed."""

    ended: CaptureEnded | None
    delay_s: float | None
    """Endpoint minus the end of the speech (audio timeline)."""
    wall_delay_s: float | None
    """The same on the wall clock, when the clip was fed in real time."""
    confirmed_delay_s: float | None = None
    """With the transcript check: when the check came back and the capture stopped."""
    reopened: int = 0
    """Likely ends the transcript took back."""

    @property
    def cut_off(self) -> bool:
        return self.delay_s is not None and self.delay_s < 0


def run_clip(
    clip: Clip,
    speech: SpeechDetector,
    vad: VadSettings,
    turn: TurnModel | None,
    *,
    realtime: bool = False,
    transcribe: Transcribe | None = None,
) -> Endpoint:
    """Feed ``clip`` through a real front end listening for a request (as after ``listen``).

    With ``transcribe``, a likely end is checked as the turn does it: the audio
    so far is transcribed, the front end hears as many more frames as that took,
    and the end holds (``confirm_end``) unless speech resumed or the transcript
    stops on an open word.
    """
    messages: list[tuple[float, FrontEndMessage]] = []
    emit = lambda msg: messages.append((time.monotonic(), msg))  # noqa: E731
    fe = FrontEnd(_NoSource, _NoWake(), speech, vad, emit, preroll_s=0.4, turn=turn)  # type: ignore[arg-type]
    fe.confirm_ends = transcribe is not None
    capture = fe.request_capture()
    started = time.monotonic()
    likely: CaptureEnded | None = None
    check_at, check_says_whole, reopened = 0, False, 0
    try:
        for i in range(len(clip.audio) // FRAME_SAMPLES):
            if realtime:
                time.sleep(max(0.0, started + (i + 1) * FRAME_SAMPLES / SAMPLE_RATE - time.monotonic()))
            if likely is not None and i >= check_at:
                if check_says_whole:
                    fe.confirm_end(capture)
                    confirmed = round(float(i * FRAME_SAMPLES / SAMPLE_RATE - clip.speech_end_s), 3)
                    delay = round(float(likely.at_s - clip.speech_end_s), 3)
                    return Endpoint(likely, delay, None, confirmed, reopened)
                likely, reopened = None, reopened + 1
            fe.frames += 1
            fe.last_frame_mono = time.monotonic()
            fe.process(clip.audio[i * FRAME_SAMPLES : (i + 1) * FRAME_SAMPLES].copy())
            new = [m for _, m in messages]
            messages.clear()
            if any(isinstance(m, SpeechResumed) for m in new):
                likely = None
            for msg in new:
                if isinstance(msg, CaptureEnded) and msg.provisional and transcribe is not None:
                    text, seconds = transcribe(msg.audio)
                    likely, check_says_whole = msg, not unfinished(text)
                    check_at = i + 1 + int(np.ceil(seconds * SAMPLE_RATE / FRAME_SAMPLES))
                elif isinstance(msg, CaptureEnded):
                    wall = round(time.monotonic() - started - clip.speech_end_s, 3) if realtime else None
                    delay = round(float(msg.at_s - clip.speech_end_s), 3)
                    return Endpoint(msg, delay, wall, delay if transcribe else None, reopened)
    finally:
        if fe.judge is not None:
            fe.judge.close()
    return Endpoint(None, None, None)


def _checked_row(clip: Clip, checked: Endpoint | None) -> dict[str, Any]:
    if checked is None:
        return {}
    return {
        "checked_delay_s": checked.delay_s,
        "checked_in_pause": bool(checked.ended and clip.closed_in_pause(checked.ended.at_s)),
        "checked_confirmed_s": checked.confirmed_delay_s,
        "checked_reopened": checked.reopened,
    }


def _percentiles(values: list[float]) -> dict[str, float | None]:
    from appliance.bench.main import percentile

    return {"p50": percentile(values, 0.5), "p95": percentile(values, 0.95), "n": len(values)}


def _mode_summary(rows: list[dict[str, Any]], mode: str) -> dict[str, Any]:
    def delays(kind: str) -> list[float | None]:
        return [r[f"{mode}_delay_s"] for r in rows if r["kind"] == kind]

    def cut_offs(kind: str) -> int:
        return sum(d is not None and d < 0 for d in delays(kind))

    whole = [d for d in delays("whole") if d is not None and d >= 0]
    paused = [d for d in delays("paused") if d is not None and d >= 0]
    return {
        "endpoint_delay_s": _percentiles(whole),
        "cut_offs": {kind: cut_offs(kind) for kind in ("whole", "paused", "continuous")},
        "cut_offs_at_the_inserted_pause": sum(r[f"{mode}_in_pause"] for r in rows),
        "clips": {kind: len(delays(kind)) for kind in ("whole", "paused", "continuous")},
        "paused_endpoint_delay_s": _percentiles(paused),
    }


def measure_endpoint(
    speech: SpeechDetector,
    turn: TurnModel,
    speak: Callable[[str], np.ndarray],
    load: Callable[[str], np.ndarray],
    log: Callable[[str], None],
    *,
    vad: VadSettings | None = None,
    realtime_clips: int = 4,
    transcribe: Transcribe | None = None,
) -> dict[str, Any]:
    """Endpoint delay and cut-offs with the turn model (alone, and checked by ``transcribe``'s transcript
    when given) and with the fixed silence, per clip and summed up."""
    vad = vad or VadSettings()
    fixed = replace(vad, turn_model="off")
    timed = TimedTurnModel(turn)
    clips = list(sentence_clips(load)) + [spoken_clip(text, speak(text)) for text in REQUESTS]
    rows = []
    for i, clip in enumerate(clips, 1):
        asked = len(timed.answers)
        semantic = run_clip(clip, speech, vad, timed)
        plain = run_clip(clip, speech, fixed, None)
        checked = run_clip(clip, speech, vad, turn, transcribe=transcribe) if transcribe else None
        probability = semantic.ended.turn_probability if semantic.ended else None
        rows.append(
            {
                **_checked_row(clip, checked),
                "clip": clip.label,
                "kind": clip.kind,
                "smart_turn_delay_s": semantic.delay_s,
                "smart_turn_in_pause": bool(semantic.ended and clip.closed_in_pause(semantic.ended.at_s)),
                "turn_probability": None if probability is None else round(probability, 3),
                "semantic": bool(semantic.ended and semantic.ended.semantic),
                "answers": [round(a, 3) for a in timed.answers[asked:]],
                "fixed_delay_s": plain.delay_s,
                "fixed_in_pause": bool(plain.ended and clip.closed_in_pause(plain.ended.at_s)),
            }
        )
        cut = {True: " (CUT OFF)", False: ""}
        also = f", checked {checked.delay_s} s{cut[checked.cut_off]}" if checked else ""
        log(
            f"endpoint {i}/{len(clips)}: {clip.label}: smart-turn {semantic.delay_s} s{cut[semantic.cut_off]}"
            f"{also}, fixed {plain.delay_s} s{cut[plain.cut_off]}"
        )
    report: dict[str, Any] = {
        "settings": {
            "end_silence_s": vad.end_silence_s,
            "end_silence_min_s": vad.end_silence_min_s,
            "end_silence_max_s": vad.end_silence_max_s,
            "smart_turn_threshold": vad.smart_turn_threshold,
            "speculate_after_s": vad.speculate_after_s,
        },
        "smart_turn": _mode_summary(rows, "smart_turn"),
        "fixed": _mode_summary(rows, "fixed"),
        "model_calls": len(timed.seconds),
        "model_call_s": _percentiles([round(s, 4) for s in timed.seconds]),
    }
    if transcribe is not None:
        report["smart_turn_checked"] = {
            **_mode_summary(rows, "checked"),
            "confirmed_delay_s": _percentiles(
                [
                    r["checked_confirmed_s"]
                    for r in rows
                    if r["kind"] == "whole" and r["checked_confirmed_s"] is not None
                ]
            ),
            "reopened": sum(r["checked_reopened"] for r in rows),
        }
    report["model_call_8s_window_s"] = _window_latency(turn)
    if realtime_clips:
        log(f"endpoint: {realtime_clips} whole sentences again in real time (the worker thread's timing)")
        whole = [c for c in clips if c.kind == "whole"]
        chosen = whole[:: max(1, len(whole) // realtime_clips)][:realtime_clips]
        wall = [run_clip(c, speech, vad, turn, realtime=True) for c in chosen]
        report["realtime_smart_turn"] = {
            "clips": [c.label for c in chosen],
            "endpoint_delay_s": [w.delay_s for w in wall],
            "wall_clock_delay_s": [w.wall_delay_s for w in wall],
        }
    report["per_clip"] = rows
    return report


def _window_latency(turn: TurnModel, calls: int = 20) -> dict[str, float | None]:
    """Seconds per call on a full 8 s window of noise, one after another (features included)."""
    audio = (np.random.default_rng(3).standard_normal(WINDOW_S * SAMPLE_RATE) * 3000).astype(np.int16)
    seconds = []
    for _ in range(calls):
        started = time.perf_counter()
        turn.completion(audio)
        seconds.append(round(time.perf_counter() - started, 4))
    return _percentiles(seconds) | {"min": min(seconds)}


def measure_rss(state_dir: Path) -> dict[str, Any]:
    """RSS the loaded turn model adds to a process that already runs Silero on onnxruntime (a child process)."""
    code = f"from appliance.bench.endpoint import _rss_child; _rss_child({str(state_dir)!r})"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False)
    if done.returncode != 0:
        return {"error": (done.stderr.strip().splitlines() or ["no output"])[-1]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def _rss_child(state_dir: str) -> None:
    from appliance.engines.smart_turn import SmartTurn, TurnJudge
    from appliance.engines.vad import SileroDetector
    from appliance.models.registry import ModelRegistry

    registry = ModelRegistry(Path(state_dir), show_progress=False)
    silero = SileroDetector(registry.resolve("silero-vad"))  # onnxruntime already loaded, as in the daemon
    silero.probability(np.zeros(FRAME_SAMPLES, dtype=np.int16))
    path = registry.resolve(MODEL_NAME)
    before = memory_mb("self", "VmRSS")
    judge = TurnJudge(SmartTurn(path))
    loaded = memory_mb("self", "VmRSS")
    audio = (np.random.default_rng(5).standard_normal(WINDOW_S * SAMPLE_RATE) * 3000).astype(np.int16)
    for pause in range(10):  # on its worker thread, as in the daemon
        judge.ask((0, pause), audio)
        judge.answer(wait_s=5.0)
    after = memory_mb("self", "VmRSS")
    judge.close()
    result = {
        "rss_before_mb": before,
        "added_by_loading_mb": round(loaded - before, 1),
        "added_after_10_calls_mb": round(after - before, 1),
        "file_mb": round(path.stat().st_size / 1e6, 1),
    }
    print(json.dumps(result))
