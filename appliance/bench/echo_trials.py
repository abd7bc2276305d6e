"""What the echo bench plays and how it scores what was heard.

Trials: a question that draws the long scripted reply, and a barge-in ("Hey Jarvis" and a
request, in the Piper voice or a phrase of a real recording), both at the user's speech
level.  The replies come from :class:`ScriptedReplies`, so the LLM is not what is measured;
a request heard is scored by its word error rate against what was said.
"""

from __future__ import annotations

import itertools
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from appliance.audio import SAMPLE_RATE
from appliance.audio.room import dbfs
from appliance.audio.wav import read_wav
from appliance.bench.harness import WAKE_PHRASE, speak
from appliance.engines.llm.protocol import GenerationStats, LanguageModel, Message
from appliance.engines.loader import Engines
from appliance.models.registry import ModelRegistry
from appliance.settings import LlmSettings

SPEECH_DBFS = -30.0
"""The user's speech level; the echo is set relative to it."""
GAP_S = 0.2
"""Pause between "Hey Jarvis." and the request."""
QUESTIONS = ("Tell me about Paris.", "Tell me about the moon.", "Tell me a story.", "Tell me about trains.")
REQUESTS = (
    "What time is it?",
    "Turn on the kitchen light.",
    "Draw the seven of clubs.",
    "Set a timer for five minutes.",
)
RECORDINGS = ("beckett", "endgame")
LONG_REPLY = (
    "Paris is the capital of France. It has been the country's largest city for centuries, and it sits on the "
    "river Seine, with famous museums like the Louvre and the Orsay. Its old streets are lined with cafes, "
    "bakeries and bookshops, and the Eiffel tower looks over all of it from the left bank of the river."
)
NUMBER_WORDS = "zero one two three four five six seven eight nine ten eleven twelve"
NUMBERS = dict(enumerate(NUMBER_WORDS.split()))


class ScriptedReplies(LanguageModel):
    """A language model that reads from a script: a long reply to "tell me ...", "Okay." to anything else.

    It prefills nothing, counts words as tokens and scores every continuation alike: the echo
    bench measures the appliance's voice, not its LLM.
    """

    def __init__(self, settings: LlmSettings) -> None:
        self.settings = settings
        self.last = GenerationStats(backend="scripted")

    @property
    def name(self) -> str:
        return "scripted"

    def stream(
        self,
        messages: list[Message],
        cancel: threading.Event,
        *,
        max_tokens: int | None = None,
        may_run: threading.Event | None = None,
    ) -> Iterator[str]:
        last = str(messages[-1]["content"]).lower() if messages else ""
        text = LONG_REPLY if "tell me" in last else "Okay."
        for i, word in enumerate(text.split(" ")):
            if cancel.is_set():
                return
            time.sleep(0.01)
            yield word if i == 0 else " " + word

    def prefill(self, messages: list[Message], cancel: threading.Event | None = None, user_start: str = "") -> int:
        return 0

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def score_continuations(self, messages: list[Message], continuations: list[str]) -> list[float]:
        return [0.0] * len(continuations)


def normalise(text: str) -> list[str]:
    words = re.sub(r"[^a-z0-9' ]", " ", text.lower()).split()
    return [NUMBERS.get(int(w), w) if w.isdigit() else w for w in words]


def word_error_rate(reference: str, hypothesis: str) -> float:
    ref, hyp = normalise(reference), normalise(hypothesis)
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1] / max(len(ref), 1)


@dataclass
class Trial:
    question: np.ndarray
    barge: np.ndarray
    reference: str
    """What the request says (for a real recording: Whisper's transcript of the clean phrase alone)."""


def make_trials(engines: Engines, registry: ModelRegistry) -> list[Trial]:
    """Piper questions and barge-ins, and barge-ins whose request is a phrase of a real recording."""

    def say(text: str) -> np.ndarray:
        return speak(engines.tts, text)

    def level(x: np.ndarray) -> np.ndarray:
        return (x * 10 ** ((SPEECH_DBFS - dbfs(x)) / 20)).astype(np.float32)

    wake, gap = say(WAKE_PHRASE), np.zeros(int(GAP_S * SAMPLE_RATE), dtype=np.int16)
    trials = []
    for i, request in enumerate(REQUESTS):
        question = np.concatenate([wake, gap, say(QUESTIONS[i % len(QUESTIONS)])])
        trials.append(Trial(level(question), level(np.concatenate([wake, gap, say(request)])), request))
    for name in RECORDINGS:
        phrase = first_phrase(read_wav(registry.resolve(f"speech-{name}"), SAMPLE_RATE))
        question = np.concatenate([wake, gap, say(QUESTIONS[0])])
        reference = engines.stt.transcribe(phrase).text  # Whisper's reading of the clean clip alone
        trials.append(Trial(level(question), level(np.concatenate([wake, gap, phrase])), reference))
    return trials


def first_phrase(samples: np.ndarray, most_s: float = 4.0, pause_s: float = 0.4) -> np.ndarray:
    """The recording's first utterance: voiced stretches up to the first pause of ``pause_s`` (shorter
    than the 0.6 s endpoint, so the request is one) or ``most_s``, never a word cut in half."""
    from appliance.cli.converse import voiced_segments

    segments = voiced_segments(samples)
    end = segments[0][1]
    for (_, prev_end), (start, stop) in itertools.pairwise(segments):
        if start - prev_end >= pause_s or stop > segments[0][0] + most_s:
            break
        end = stop
    return samples[int(max(segments[0][0] - 0.1, 0) * SAMPLE_RATE) : int((end + 0.1) * SAMPLE_RATE)]
