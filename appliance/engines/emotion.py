"""How the speaker seems to feel: neutral, happy, sad, angry or stressed, with a score.

Three signals, fused by a pure rule (:func:`decide`):
- the words' valence from VADER (a maintained, MIT-licensed sentiment lexicon
  with rules for negation, intensifiers and punctuation);
- which emotion the sentence is *about*, from the sentence embedding's
  similarity to a few example sentences per label (the embedding is already
  computed for retrieval, so this costs a handful of dot products);
- arousal from prosody (loud, fast, varied pitch → high), when audio exists:
  it separates angry/stressed (high) from sad (low).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from appliance.core.errors import ModelError
from appliance.engines.prosody import Prosody

_LOGGER = logging.getLogger(__name__)

LABELS = ("neutral", "happy", "sad", "angry", "stressed")
EXAMPLES: dict[str, tuple[str, ...]] = {
    "neutral": (
        "What time is it?",
        "Turn on the kitchen light.",
        "The meeting is at three o'clock.",
        "What is the weather tomorrow?",
        "Set a timer for ten minutes.",
    ),
    "happy": (
        "I am so happy today!",
        "This is wonderful news, I'm delighted.",
        "I feel great, everything went well.",
        "I love it, thank you so much!",
        "We won, I'm thrilled!",
    ),
    "sad": (
        "I feel sad and lonely.",
        "I miss her so much, I've been crying.",
        "I'm feeling down and depressed.",
        "That's heartbreaking, my dog died.",
        "Nothing matters anymore, I'm so unhappy.",
    ),
    "angry": (
        "I am furious!",
        "This makes me so angry.",
        "I'm sick of this, it's unacceptable!",
        "Stop it, you're really annoying me!",
        "I hate this stupid thing!",
        "How dare they do this to me, I am outraged!",
    ),
    "stressed": (
        "I'm so stressed and anxious.",
        "I have too much to do and no time.",
        "I'm worried I won't make the deadline.",
        "I'm overwhelmed and nervous about tomorrow.",
        "I can't cope with all this pressure.",
    ),
}
TEMPERATURE = 0.05
"""Softmax temperature over example similarities (cosines differ by a few hundredths)."""


@dataclass(frozen=True)
class Emotion:
    label: str
    score: float
    """0..1 confidence of ``label``."""
    valence: float
    """-1 (negative) .. 1 (positive), from the words."""
    arousal: float | None = None
    """-1 (calm) .. 1 (agitated), from the voice; None for typed requests."""

    def as_dict(self) -> dict[str, float | str | None]:
        return {
            "label": self.label,
            "score": round(self.score, 3),
            "valence": round(self.valence, 3),
            "arousal": None if self.arousal is None else round(self.arousal, 3),
        }


def arousal_of(p: Prosody) -> float:
    """-1..1 from loudness, speaking rate and pitch spread, against typical conversational speech."""
    parts = (
        (p.energy_db + 30.0) / 12.0,  # -30 dBFS typical close-talk level
        (p.rate_sps - 4.0) / 1.5,  # ~4 syllables/s typical
        (p.pitch_spread_st - 4.0) / 3.0,  # ~4 semitones typical inter-quartile spread
    )
    return float(np.clip(np.mean(parts), -1.0, 1.0))


def decide(similarity: dict[str, float], valence: float, arousal: float | None) -> tuple[str, float]:
    """Pure fusion: softmax over example similarity, reweighted by valence and arousal."""
    sims = np.array([similarity[label] for label in LABELS])
    probs = np.exp((sims - sims.max()) / TEMPERATURE)
    weight = np.ones(len(LABELS))
    pos, neg = max(valence, 0.0), max(-valence, 0.0)
    weight[LABELS.index("happy")] *= 0.3 + 2.0 * pos
    for label in ("sad", "angry", "stressed"):
        weight[LABELS.index(label)] *= 0.3 + 2.0 * neg
    weight[LABELS.index("neutral")] *= 1.0 + max(0.0, 0.5 - abs(valence))
    if arousal is not None:
        weight[LABELS.index("angry")] *= 1.0 + 0.5 * arousal
        weight[LABELS.index("stressed")] *= 1.0 + 0.3 * arousal
        weight[LABELS.index("sad")] *= 1.0 - 0.5 * arousal
    probs = probs * weight
    probs /= probs.sum()
    best = int(np.argmax(probs))
    return LABELS[best], float(probs[best])


class EmotionAnalyzer:
    """Text (+ optional prosody) → :class:`Emotion`."""

    def __init__(self, embed_batch: Callable[[list[str]], np.ndarray]) -> None:
        try:
            from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
        except ImportError as err:
            raise ModelError("emotion-missing", "vaderSentiment is not installed; run scripts/setup") from err
        self._vader = SentimentIntensityAnalyzer()
        self._centroids = {}
        for label, sentences in EXAMPLES.items():
            mean = embed_batch(list(sentences)).mean(axis=0)
            self._centroids[label] = mean / np.linalg.norm(mean)

    def valence(self, text: str) -> float:
        return float(self._vader.polarity_scores(text)["compound"])

    def analyze(self, text: str, vector: np.ndarray, prosody: Prosody | None = None) -> Emotion:
        """``vector`` is the text's sentence embedding (shared with retrieval)."""
        similarity = {label: float(c @ vector) for label, c in self._centroids.items()}
        valence = self.valence(text)
        arousal = arousal_of(prosody) if prosody is not None else None
        label, score = decide(similarity, valence, arousal)
        return Emotion(label, score, valence, arousal)
