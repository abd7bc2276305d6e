"""``appliance bench --only endpoint``: how soon a request ends after its speech, and whether pauses cut it off.

The clips (:mod:`appliance.bench.endpoint_clips`) are real speech: whole sentences cut
from moonshine-voice's recordings and the default Piper voice's requests, each sentence
also with a pause inserted mid-clause.  Every clip goes through the real front end --
Silero VAD, the :class:`~appliance.engines.vad.Segmenter`, smart-turn on its worker
thread -- three times: with the turn model alone, with the turn model whose early ends
the transcript confirms (the daemon's default: Whisper transcribes the request so far and
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
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from appliance.audio import FRAME_SAMPLES, SAMPLE_RATE
from appliance.bench.endpoint_clips import REQUESTS, Clip, sentence_clips, spoken_clip
from appliance.bench.harness import log, percentiles, speak
from appliance.core.procstat import memory_mb
from appliance.engines.smart_turn import MODEL_NAME, WINDOW_S, TurnModel
from appliance.engines.vad import SpeechDetector
from appliance.models.registry import ModelRegistry
from appliance.settings import Settings, VadSettings
from appliance.voice.frontend import FrontEnd
from appliance.voice.messages import CaptureEnded, FrontEndMessage, SpeechResumed
from appliance.voice.unfinished import unfinished

Transcribe = Callable[[np.ndarray], tuple[str, float]]
"""Audio → (transcript, seconds it took)."""


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
    confirm = transcribe is not None
    fe = FrontEnd(_NoSource, _NoWake(), speech, vad, emit, preroll_s=0.4, turn=turn, confirm_ends=confirm)  # type: ignore[arg-type]
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


def bench_endpoint(settings: Settings, registry: ModelRegistry) -> dict[str, Any]:
    """The whole section with the real Silero, smart-turn, STT and Piper voice; about a minute."""
    from appliance.audio.wav import read_wav
    from appliance.engines.smart_turn import SmartTurn
    from appliance.engines.stt.factory import load_stt
    from appliance.engines.tts import PiperTts
    from appliance.engines.vad import SileroDetector
    from appliance.settings import TtsSettings

    log("endpoint: loading Silero, smart-turn, the STT and the Piper voice")
    voice = PiperTts(registry.resolve(settings.tts.voice), TtsSettings(variation=0.0))
    stt = load_stt(settings.stt, registry)
    stt.warm_up()

    def transcribe(audio: np.ndarray) -> tuple[str, float]:
        result = stt.transcribe(audio)
        return result.text, result.seconds

    report = measure_endpoint(
        SileroDetector(registry.resolve("silero-vad")),
        SmartTurn(registry.resolve(MODEL_NAME)),
        lambda text: speak(voice, text),
        lambda name: read_wav(registry.resolve(name), SAMPLE_RATE),
        log,
        vad=replace(settings.vad, turn_model="smart-turn"),
        transcribe=transcribe if stt.supports_speculation else None,
    )
    log("endpoint: RSS the turn model adds (child process)")
    report["rss"] = measure_rss(settings.state_dir)
    return report


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
    timed = TimedTurnModel(turn)
    clips = list(sentence_clips(load)) + [spoken_clip(text, speak(text)) for text in REQUESTS]
    rows = []
    for i, clip in enumerate(clips, 1):
        row = _clip_row(clip, speech, vad, timed, transcribe)
        rows.append(row)
        log(f"endpoint {i}/{len(clips)}: {clip.label}: {_verdicts(row)}")
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
        "model_call_s": percentiles([round(s, 4) for s in timed.seconds]),
    }
    if transcribe is not None:
        report["smart_turn_checked"] = _checked_summary(rows)
    report["model_call_8s_window_s"] = _window_latency(turn)
    if realtime_clips:
        log(f"endpoint: {realtime_clips} whole sentences again in real time (the worker thread's timing)")
        report["realtime_smart_turn"] = _realtime(clips, speech, vad, turn, realtime_clips)
    report["per_clip"] = rows
    return report


def _clip_row(
    clip: Clip, speech: SpeechDetector, vad: VadSettings, timed: TimedTurnModel, transcribe: Transcribe | None
) -> dict[str, Any]:
    """One clip with the turn model, with the fixed silence, and (with ``transcribe``) checked."""
    asked = len(timed.answers)
    semantic = run_clip(clip, speech, vad, timed)
    plain = run_clip(clip, speech, replace(vad, turn_model="off"), None)
    checked = run_clip(clip, speech, vad, timed.model, transcribe=transcribe) if transcribe else None
    probability = semantic.ended.turn_probability if semantic.ended else None
    return {
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


def _checked_row(clip: Clip, checked: Endpoint | None) -> dict[str, Any]:
    if checked is None:
        return {}
    return {
        "checked_delay_s": checked.delay_s,
        "checked_in_pause": bool(checked.ended and clip.closed_in_pause(checked.ended.at_s)),
        "checked_confirmed_s": checked.confirmed_delay_s,
        "checked_reopened": checked.reopened,
    }


def _verdicts(row: dict[str, Any]) -> str:
    """The progress line's "smart-turn 0.3 s, checked 0.3 s, fixed -0.1 s (CUT OFF)"."""

    def shown(delay: float | None) -> str:
        return f"{delay} s" + (" (CUT OFF)" if delay is not None and delay < 0 else "")

    also = f", checked {shown(row['checked_delay_s'])}" if "checked_delay_s" in row else ""
    return f"smart-turn {shown(row['smart_turn_delay_s'])}{also}, fixed {shown(row['fixed_delay_s'])}"


def _mode_summary(rows: list[dict[str, Any]], mode: str) -> dict[str, Any]:
    def delays(kind: str) -> list[float | None]:
        return [r[f"{mode}_delay_s"] for r in rows if r["kind"] == kind]

    def cut_offs(kind: str) -> int:
        return sum(d is not None and d < 0 for d in delays(kind))

    whole = [d for d in delays("whole") if d is not None and d >= 0]
    paused = [d for d in delays("paused") if d is not None and d >= 0]
    return {
        "endpoint_delay_s": percentiles(whole),
        "cut_offs": {kind: cut_offs(kind) for kind in ("whole", "paused", "continuous")},
        "cut_offs_at_the_inserted_pause": sum(r[f"{mode}_in_pause"] for r in rows),
        "clips": {kind: len(delays(kind)) for kind in ("whole", "paused", "continuous")},
        "paused_endpoint_delay_s": percentiles(paused),
    }


def _checked_summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The transcript-checked mode: its summary, when the check confirmed whole sentences, ends taken back."""
    confirmed = [
        r["checked_confirmed_s"] for r in rows if r["kind"] == "whole" and r["checked_confirmed_s"] is not None
    ]
    return {
        **_mode_summary(rows, "checked"),
        "confirmed_delay_s": percentiles(confirmed),
        "reopened": sum(r["checked_reopened"] for r in rows),
    }


def _realtime(
    clips: list[Clip], speech: SpeechDetector, vad: VadSettings, turn: TurnModel, count: int
) -> dict[str, Any]:
    """``count`` whole sentences, spread over the set, fed in real time: the turn model's worker-thread timing."""
    whole = [c for c in clips if c.kind == "whole"]
    chosen = whole[:: max(1, len(whole) // count)][:count]
    wall = [run_clip(c, speech, vad, turn, realtime=True) for c in chosen]
    return {
        "clips": [c.label for c in chosen],
        "endpoint_delay_s": [w.delay_s for w in wall],
        "wall_clock_delay_s": [w.wall_delay_s for w in wall],
    }


def _window_latency(turn: TurnModel, calls: int = 20) -> dict[str, Any]:
    """Seconds per call on a full 8 s window of noise, one after another (features included)."""
    audio = (np.random.default_rng(3).standard_normal(WINDOW_S * SAMPLE_RATE) * 3000).astype(np.int16)
    seconds = []
    for _ in range(calls):
        started = time.perf_counter()
        turn.completion(audio)
        seconds.append(round(time.perf_counter() - started, 4))
    return percentiles(seconds) | {"min": min(seconds)}


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
