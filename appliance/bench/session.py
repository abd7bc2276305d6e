"""``appliance bench --only session``: the session a household has, measured from outside the daemon.

One ``appliance run --input - --output -`` process, in a throw-away state dir
whose memory holds over a thousand memories (seeded through ``appliance
memory import``), is fed 16 kHz s16le PCM on stdin in real time: "Hey
Jarvis", a request, silence until the reply has been played, and so on,
one conversation of ten-odd turns.  The requests are real human recordings
(moonshine-voice's assets, cut at their pauses) and Piper-made ones,
including follow-ups that need the history and a question about a
remembered fact.  First reply audio is timed on the stdout stream: the first
non-silent sample after the end of each request's speech.  The daemon's own
turn events and LLM log lines give each stage's time and the tokens each turn
evaluated.

The same requests then run through the Home-Assistant-style chain of the
raw engines, as the ``baseline`` section defines it: a 0.7 s endpoint,
Whisper's full window, a fresh context per request, speech held until 60
characters of reply exist, each stage after the other.
"""

from __future__ import annotations

import json
import os
import queue
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import IO, Any

import numpy as np

from appliance.audio import SAMPLE_RATE
from appliance.audio.wav import read_wav
from appliance.bench.baseline import HA_END_SILENCE_S, HA_HOLD_CHARS
from appliance.bench.harness import WAKE_PHRASE, percentiles, speak
from appliance.bench.stream import (
    FRAME,
    Request,
    TurnResult,
    parse_llm,
    parse_turn,
    reply_onset,
    speech_end_s,
    utterances,
)
from appliance.bench.synthetic_memories import distractors
from appliance.core.chunker import SentenceChunker
from appliance.core.procstat import memory_mb

MEMORIES = 1200
SPOKE_OVER_AFTER_S = 0.6
"""Reply audio this long after a request began, before its speech ended, spoke over the speaker (the
earcon, played as the wake word is heard, is over by then)."""
SEED = 7
"""The daemon's sampling seed: a run's replies (and so its history) repeat."""
TURN_TIMEOUT_S = 60.0
FACTS = (
    "Anna's birthday is on the twelfth of March.",
    "The spare key for the shed is under the blue flowerpot.",
    "Ben is allergic to peanuts.",
)
PIPER_REQUESTS = (
    "What is the capital of France?",
    "And how many people live there?",
    "When is Anna's birthday?",
    "Where is the spare key for the shed?",
    "Tell me a joke about cats.",
    "Tell me another one.",
    "Who wrote Romeo and Juliet?",
    "What else did he write?",
)
HUMAN = (("beckett", 1), ("two-cities", 2), ("endgame", 1))
"""Recordings and how many utterances to take from each."""
ORDER = "PPHPPHPPHPPH"
"""Piper (P) and human (H) requests interleaved; each follow-up comes right after what it follows."""


class PacedWriter(threading.Thread):
    """Writes PCM to the daemon's stdin in real time, silence whenever nothing is queued."""

    def __init__(self, stream: IO[bytes]) -> None:
        super().__init__(name="bench-stdin", daemon=True)
        self._stream = stream
        self._queue: queue.Queue[tuple[np.ndarray, threading.Event, list[float]]] = queue.Queue()
        self.stopped = threading.Event()

    def play(self, samples: np.ndarray) -> tuple[threading.Event, list[float]]:
        """Queue ``samples``; the event is set (and the list holds its start time) once writing begins."""
        started, at = threading.Event(), list[float]()
        self._queue.put((samples.astype("<i2"), started, at))
        return started, at

    def run(self) -> None:
        silence = np.zeros(FRAME, dtype="<i2")
        current, pos, written = silence, FRAME, 0
        t0 = time.monotonic()
        try:
            while not self.stopped.is_set():
                if pos >= len(current):
                    current, pos = silence, 0
                    try:
                        current, started, at = self._queue.get_nowait()
                        at.append(time.monotonic())
                        started.set()
                    except queue.Empty:
                        pass
                frame = current[pos : pos + FRAME]
                pos += FRAME
                self._stream.write(frame.tobytes())
                self._stream.flush()
                written += len(frame)
                delay = t0 + written / SAMPLE_RATE - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
        except (BrokenPipeError, ValueError, OSError):
            return


_LOADED = re.compile(r"Loaded (?P<name>[\w-]+) in [\d.]+ s \((?P<mb>[+-]?[\d.]+) MB resident\)")
_REPLY_CHECK = re.compile(
    r"Reply check: (?:(?P<passed>passed)|\w+(?P<gave_up>, and \w+ without)|\w+(?P<trimmed> after \d+ pieces)|.)"
)
"""The reply check's log lines (``appliance.voice.reply_checker``): one per LLM reply, and how it ended."""


class Daemon:
    """``appliance run --input - --output -`` with its stdout timed and its log parsed."""

    def __init__(self, state: Path, runtime: Path, log: Callable[[str], None]) -> None:
        self.log_path = runtime.parent / "daemon.log"
        env = {
            **os.environ,
            "APPLIANCE_PATHS_STATE_DIR": str(state),
            "APPLIANCE_PATHS_RUNTIME_DIR": str(runtime),
            "APPLIANCE_LLM_SEED": str(SEED),
            "APPLIANCE_LOG_LEVEL": "debug",  # its turn events with their texts (INFO logs only their lengths)
            "PYTHONUNBUFFERED": "1",
        }
        cmd = [sys.executable, "-m", "appliance", "run", "--input", "-", "--output", "-"]
        self.proc = subprocess.Popen(
            cmd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        self.pcm = bytearray()
        self.arrivals: list[tuple[float, int]] = []
        self.turns: queue.Queue[tuple[dict[str, Any], tuple[int, int] | None]] = queue.Queue()
        self.ready = threading.Event()
        self.log_tail: list[str] = []
        self.loaded_mb: dict[str, float] = {}
        self.reply_checks = {"checked": 0, "rewritten": 0, "gave_up": 0, "trimmed": 0}
        """What the reply check did to the session's LLM replies, from its log lines."""
        """Resident memory each engine's load added, from the daemon's own "Loaded" lines."""
        self.peak_mb = 0.0
        """The daemon's VmHWM over the whole session, read just before it is stopped."""
        self._log = log
        self._readers = [
            threading.Thread(target=self._read_stdout, name="bench-stdout", daemon=True),
            threading.Thread(target=self._read_stderr, name="bench-stderr", daemon=True),
        ]
        for reader in self._readers:
            reader.start()
        assert self.proc.stdin is not None
        self.writer = PacedWriter(self.proc.stdin)

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        while chunk := os.read(fd, 8192):
            self.arrivals.append((time.monotonic(), len(self.pcm)))
            self.pcm += chunk

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        last_llm: tuple[int, int] | None = None  # the last generation's token counts, until its turn ends
        with self.log_path.open("w", encoding="utf-8", buffering=1) as saved:
            for raw in self.proc.stderr:
                line = raw.decode("utf-8", "replace").rstrip()
                saved.write(line + "\n")
                self.log_tail = [*self.log_tail[-40:], line]
                if "Ready: listening" in line:
                    self.ready.set()
                if (loaded := _LOADED.search(line)) is not None:
                    self.loaded_mb[loaded["name"]] = float(loaded["mb"])
                if (check := _REPLY_CHECK.search(line)) is not None:
                    self._count_check(check)
                if (llm := parse_llm(line)) is not None:
                    last_llm = llm
                if (turn := parse_turn(line)) is not None:
                    self.turns.put((turn, last_llm))
                    last_llm = None

    def _count_check(self, check: re.Match[str]) -> None:
        counts = self.reply_checks
        counts["checked"] += 1
        if check["gave_up"]:
            counts["rewritten"] += 1
            counts["gave_up"] += 1
        elif check["trimmed"]:
            counts["trimmed"] += 1
        elif not check["passed"]:
            counts["rewritten"] += 1

    def stop(self) -> None:
        self.writer.stopped.set()
        self.peak_mb = memory_mb(self.proc.pid)
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        for reader in self._readers:
            reader.join(timeout=5)


# -- building the session -----------------------------------------------------------------
def make_requests(
    tts: Any, resolve: Callable[[str], Path], turns: int, voicing: Callable[[np.ndarray], np.ndarray], frame: int
) -> list[Request]:
    """Piper and human requests in :data:`ORDER`, ``turns`` of them; ``voicing`` marks speech per ``frame``."""
    human: list[Request] = []
    for name, count in HUMAN:
        audio = read_wav(resolve(f"speech-{name}"), SAMPLE_RATE)
        pieces = utterances(audio, voicing(audio), frame)
        human += [Request(f"{name} #{i + 1}", piece, True) for i, piece in enumerate(pieces[:count])]
    made = iter([Request(text, speak(tts, text), False) for text in PIPER_REQUESTS])
    spoken = iter(human)
    out = []
    for kind in (ORDER * 2)[:turns]:
        item = next(spoken if kind == "H" else made, None) or next(made, None) or next(spoken, None)
        if item is not None:
            item.speech_s = speech_end_s(voicing(item.audio), frame)
            out.append(item)
    return out


def silero_voicing(settings: Any, resolve: Callable[[str], Path]) -> tuple[Callable[[np.ndarray], np.ndarray], int]:
    """Speech per 32 ms window by the daemon's own detector (Silero at vad.threshold), and the window."""
    from appliance.engines.vad import SileroDetector

    detector = SileroDetector(resolve("silero-vad"))
    window = SileroDetector.WINDOW

    def voicing(samples: np.ndarray) -> np.ndarray:
        detector.reset()
        n = len(samples) // window
        probs = [detector.probability(samples[i * window : (i + 1) * window]) for i in range(n)]
        return np.asarray(probs) > settings.vad.threshold

    return voicing, window


def seed_memories(state: Path, count: int, log: Callable[[str], None]) -> None:
    """``count`` facts in ``state``'s memory, through ``appliance memory import`` (embedded as a user's would be)."""
    now = time.time()
    lines = [json.dumps({"kind": "fact", "text": text, "created": now - 86400.0}) for text in FACTS]
    lines += [
        json.dumps({"kind": "fact", "text": text, "created": now - 3600.0 * (i + 2)})
        for i, text in enumerate(distractors(count - len(FACTS)))
    ]
    path = state / "seed.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    env = {**os.environ, "APPLIANCE_PATHS_STATE_DIR": str(state), "APPLIANCE_PATHS_RUNTIME_DIR": str(state / "run")}
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "appliance", "memory", "import", str(path)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode:
        raise RuntimeError(f"memory import failed: {proc.stderr[-2000:]}")
    log(f"session: {count} memories imported in {time.monotonic() - start:.1f} s")


def run_session(
    tts: Any, requests: list[Request], models_dir: Path, log: Callable[[str], None]
) -> tuple[list[TurnResult], dict[str, Any]]:
    """Start the daemon, play every request after "Hey Jarvis", wait for each reply to end.

    Returns the per-turn results and the daemon's memory: its peak (VmHWM) over
    the session and what each engine's load added, MB = 10^6 bytes.
    """
    work = Path(tempfile.mkdtemp(prefix="bench-session-"))
    state, runtime = work / "state", work / "run"
    state.mkdir()
    runtime.mkdir()
    (state / "models").symlink_to(models_dir)
    seed_memories(state, MEMORIES, log)
    wake = speak(tts, WAKE_PHRASE)
    gap = np.zeros(int(0.4 * SAMPLE_RATE), dtype=np.int16)
    daemon = Daemon(state, runtime, log)
    results: list[TurnResult] = []
    try:
        if not daemon.ready.wait(180):
            raise RuntimeError("the daemon did not start:\n" + "\n".join(daemon.log_tail))
        log("session: daemon ready")
        daemon.writer.start()
        time.sleep(1.0)
        for i, request in enumerate(requests, 1):
            results.append(
                _one_turn(daemon, request, np.concatenate([wake, gap, request.audio]), i, len(requests), log)
            )
            time.sleep(0.8)  # the room is quiet a moment before the next "Hey Jarvis"
    finally:
        daemon.stop()
    rate, pcm = tts.sample_rate, bytes(daemon.pcm)
    for result in results:
        result.first_audio, result.spoke_over = reply_onset(
            daemon.arrivals, pcm, result.speech_start + SPOKE_OVER_AFTER_S, result.speech_end, rate
        )
    return results, {"peak_mb": daemon.peak_mb, "loaded_mb": daemon.loaded_mb, "reply_check": daemon.reply_checks}


def _one_turn(
    daemon: Daemon, request: Request, audio: np.ndarray, i: int, n: int, log: Callable[[str], None]
) -> TurnResult:
    result = TurnResult(request)
    end_in_audio = len(audio) - len(request.audio) + request.speech_s * SAMPLE_RATE
    started, at = daemon.writer.play(audio)
    started.wait(10)
    result.speech_start = at[0] + (len(audio) - len(request.audio)) / SAMPLE_RATE
    result.speech_end = at[0] + end_in_audio / SAMPLE_RATE
    try:
        event, llm = daemon.turns.get(timeout=len(audio) / SAMPLE_RATE + TURN_TIMEOUT_S)
    except queue.Empty:
        log(f"session {i}/{n}: no turn finished ({request.label!r})")
        return result
    result.event = event
    if llm is not None:
        result.prompt_tokens, result.evaluated = llm
    t = event.get("timings", {})
    log(
        f"session {i}/{n}: {event.get('outcome')} {event.get('transcript', '')[:40]!r}: "
        f"LLM first token {t.get('llm_first_token_s')} s, {result.evaluated} of {result.prompt_tokens} tokens evaluated"
    )
    return result


# -- the Home-Assistant-style chain --------------------------------------------------------
def ha_chain(
    stt: Any, llm: Any, tts: Any, requests: list[Request], system_prompt: str, first_chunk_chars: int
) -> list[dict[str, Any]]:
    """Each request through the raw engines, one stage after the other, with no history."""
    rows = []
    for request in requests:
        start = time.perf_counter()
        text = stt.transcribe(request.audio).text.strip()
        stt_s = time.perf_counter() - start
        messages = [{"role": "system", "content": system_prompt}, {"role": "user", "content": text or "Hello."}]
        chunker = SentenceChunker(first_chunk_chars, hold_chars=HA_HOLD_CHARS)
        start = time.perf_counter()
        first: str | None = None
        for piece in llm.stream(messages, threading.Event()):
            if chunks := chunker.push(piece):
                first = chunks[0]
                break
        first = first or chunker.flush() or "Sorry."
        llm_s = time.perf_counter() - start
        start = time.perf_counter()
        tts.synthesize_all(first)
        tts_s = time.perf_counter() - start
        total = HA_END_SILENCE_S + stt_s + llm_s + tts_s
        rows.append(
            {
                "request": request.label,
                "stt_s": round(stt_s, 3),
                "llm_first_chunk_s": round(llm_s, 3),
                "tts_s": round(tts_s, 3),
                "end_of_speech_to_first_audio_s": round(total, 3),
            }
        )
    return rows


def measure_session(
    settings: Any, engines: Any, registry: Any, log: Callable[[str], None], turns: int
) -> dict[str, Any]:
    """The whole section: the daemon session, then the HA-style chain on the same requests."""
    from appliance.engines.stt.factory import load_stt

    voicing, window = silero_voicing(settings, registry.resolve)
    requests = make_requests(engines.tts, registry.resolve, turns, voicing, window)
    log(f"session: {len(requests)} turns ({sum(r.human for r in requests)} human recordings), one daemon")
    load_before = os.getloadavg()
    results, memory = run_session(engines.tts, requests, settings.state_dir / "models", log)
    reply_check = memory.pop("reply_check")
    rows = [_row(r) for r in results]
    log("session: the Home-Assistant-style chain on the same requests")
    ha_stt = load_stt(replace(settings.stt, short_window=False), registry)
    ha_rows = ha_chain(
        ha_stt, engines.llm, engines.tts, requests, settings.llm.system_prompt, settings.tts.first_chunk_chars
    )
    ours = percentiles([r["end_of_speech_to_first_audio_s"] for r in rows])
    theirs = percentiles([r["end_of_speech_to_first_audio_s"] for r in ha_rows])
    summary = {
        key: percentiles([r.get(key) for r in rows])
        for key in ("endpoint_delay_s", "stt_s", "llm_first_token_s", "tokens_evaluated", "tts_first_audio_s")
    }
    return {
        "turns": len(rows),
        "answered": sum(r["outcome"] == "answered" for r in rows),
        "spoke_over_speaker": sum(r["spoke_over_speaker"] for r in rows),
        "memories": MEMORIES,
        "load_average": [round(x, 2) for x in (*load_before, *os.getloadavg())],
        "end_of_speech_to_first_audio_s": ours,
        **summary,
        "daemon_memory_mb": memory,
        "reply_check": reply_check,
        "llm_model": settings.llm.model,
        "per_turn": rows,
        "ha_style_chain": {"end_of_speech_to_first_audio_s": theirs, "per_request": ha_rows},
        "ratio_p50_to_ha_style": round(ours["p50"] / theirs["p50"], 3) if ours["p50"] and theirs["p50"] else None,
    }


def _row(result: TurnResult) -> dict[str, Any]:
    timings = result.event.get("timings", {})
    latency = result.first_audio - result.speech_end if result.first_audio is not None else None
    return {
        "request": result.request.label,
        "human": result.request.human,
        "outcome": result.event.get("outcome", "no-turn"),
        "transcript": result.event.get("transcript", ""),
        "reply": result.event.get("reply", ""),
        "endpoint_delay_s": timings.get("endpoint_delay_s"),
        "stt_s": timings.get("stt_s"),
        "llm_first_token_s": timings.get("llm_first_token_s"),
        "tokens_evaluated": timings.get("llm_tokens_evaluated", result.evaluated),
        "prompt_tokens": result.prompt_tokens,
        "tts_first_audio_s": timings.get("tts_first_audio_s"),
        "end_of_speech_to_first_audio_s": round(latency, 3) if latency is not None else None,
        "spoke_over_speaker": result.spoke_over,
    }
