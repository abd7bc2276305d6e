"""The real embedding model (numpy BERT) and emotion on labelled sentences and real recordings."""

from __future__ import annotations

import numpy as np
import pytest

from appliance.engines.emotion import EmotionAnalyzer, arousal_of, decide
from appliance.engines.prosody import Prosody, analyze
from appliance.settings import TtsSettings

LABELLED = {
    "happy": [
        "I just got the job, I'm so excited!",
        "What a beautiful day, I feel fantastic.",
        "My daughter is getting married, we're overjoyed!",
        "Thank you, that made my day!",
    ],
    "angry": [
        "I'm so angry at my neighbour for blocking the driveway again!",
        "This is ridiculous, the delivery is late again and I'm furious.",
        "Why does this stupid printer never work? It drives me mad!",
        "I'm really annoyed that nobody cleaned the kitchen.",
    ],
    "sad": [
        "My grandmother passed away last night.",
        "I feel so alone since she left.",
        "Our cat died this morning and I miss him.",
        "I'm heartbroken about the news.",
    ],
    "neutral": [
        "What's the capital of France?",
        "Turn off the living room lights.",
        "How far away is the moon?",
        "When is my dentist appointment?",
    ],
    "stressed": [
        "I have three deadlines tomorrow and I'm panicking.",
        "I'm so anxious about the exam, I can't sleep.",
    ],
}


@pytest.mark.integration
def test_embeddings_reproduce_the_published_similarity_matrix(embedder) -> None:
    """sentence-transformers' README prints this matrix for all-MiniLM-L6-v2."""
    v = embedder.embed_batch(["The weather is lovely today.", "It's so sunny outside!", "He drove to the stadium."])
    expected = np.array([[1.0, 0.6660, 0.1046], [0.6660, 1.0, 0.1411], [0.1046, 0.1411, 1.0]])
    assert np.allclose(v @ v.T, expected, atol=1e-3)
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert np.allclose(embedder.embed("He drove to the stadium."), v[2], atol=1e-5)  # batching changes nothing


@pytest.mark.integration
def test_the_onnxruntime_graph_computes_what_the_numpy_reference_computes(embedder, registry) -> None:
    from appliance.engines.embedding import load_embedder

    reference = load_embedder("all-minilm-l6-v2", registry.resolve, backend="numpy")
    assert (embedder.backend, reference.backend) == ("onnxruntime", "numpy")
    texts = ["When is my dentist appointment?", "Turn on the kitchen light.", "a " * 300, "ünïcödé ✓"]
    assert np.abs(embedder.embed_batch(texts) - reference.embed_batch(texts)).max() < 1e-5


@pytest.mark.integration
def test_labelled_sentences_are_classified_right(embedder) -> None:
    analyzer = EmotionAnalyzer(embedder.embed_batch)
    wrong = []
    for label, sentences in LABELLED.items():
        for text in sentences:
            got = analyzer.analyze(text, embedder.embed(text))
            if got.label != label:
                wrong.append((text, label, got.label))
            assert 0.0 <= got.score <= 1.0
    assert not wrong


def test_arousal_separates_anger_from_sadness_when_the_words_are_ambiguous() -> None:
    similarity = {"neutral": 0.1, "happy": 0.1, "sad": 0.40, "angry": 0.40, "stressed": 0.30}
    assert decide(similarity, -0.6, arousal=0.9)[0] == "angry"
    assert decide(similarity, -0.6, arousal=-0.9)[0] == "sad"
    assert decide({**similarity, "neutral": 0.45}, 0.0, arousal=None)[0] == "neutral"
    loud_fast = Prosody(energy_db=-12.0, pitch_hz=220.0, pitch_spread_st=8.0, rate_sps=6.0, speech_s=2.0)
    quiet_slow = Prosody(energy_db=-45.0, pitch_hz=110.0, pitch_spread_st=1.5, rate_sps=2.5, speech_s=2.0)
    assert arousal_of(loud_fast) > 0.5 > -0.5 > arousal_of(quiet_slow)


@pytest.mark.integration
@pytest.mark.parametrize("name", ["beckett", "two-cities", "endgame"])
def test_prosody_of_real_recordings_is_in_human_ranges(recording, name: str) -> None:
    audio = recording(name)
    p = analyze(audio)
    assert p is not None
    assert 70 <= p.pitch_hz <= 300  # adult speaking voices
    assert 2.0 <= p.rate_sps <= 7.0  # syllables per second of conversational/read speech
    assert -60 <= p.energy_db <= 0
    assert p.speech_s > 0.5 * len(audio) / 16000 * 0.5


@pytest.mark.integration
def test_speaking_rate_follows_the_voice_speed(registry) -> None:
    from appliance.audio.buffer import resample
    from appliance.engines.tts import PiperTts

    text = "I would like to know what the weather will be like tomorrow afternoon in the city."
    rates = []
    for scale in (0.7, 1.5):
        voice = PiperTts(registry.resolve("en_US-joe-medium"), TtsSettings(length_scale=scale, variation=0.0))
        audio = resample(voice.synthesize_all(text), voice.sample_rate, 16000)
        p = analyze(audio)
        assert p is not None
        rates.append(p.rate_sps)
    assert rates[0] > rates[1] * 1.3  # faster speech, more syllables per second


def test_silence_has_no_prosody() -> None:
    assert analyze(np.zeros(16000, dtype=np.int16)) is None
    assert analyze(np.zeros(100, dtype=np.int16)) is None
