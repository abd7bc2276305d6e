"""Wake-word decisions with plain numbers, and the real openWakeWord models on real audio."""

from __future__ import annotations

import numpy as np
import pytest

from appliance.audio import FRAME_SAMPLES, FRAME_SECONDS
from appliance.engines.wake import WakeDecider, WakeRule

from .conftest import silence


def decide(rule: WakeRule, scores: list[float]) -> list[int]:
    decider = WakeDecider(rule)
    return [i for i, s in enumerate(scores) if decider.process(s, (i + 1) * FRAME_SECONDS)]


def test_threshold():
    assert decide(WakeRule(threshold=0.5, refractory_s=0), [0.1, 0.49, 0.5, 0.2]) == [2]


def test_trigger_level_needs_consecutive_frames():
    rule = WakeRule(threshold=0.5, trigger_level=3, refractory_s=0)
    assert decide(rule, [0.9, 0.9, 0.1, 0.9, 0.9, 0.9, 0.9]) == [5]


def test_refractory_period_suppresses_repeats():
    rule = WakeRule(threshold=0.5, refractory_s=1.0)
    scores = [0.9] * 30  # 2.4 s of a high score
    hits = decide(rule, scores)
    assert hits == [0, 13, 26]  # 1.04 s apart: 13 frames of 80 ms


def feed(detector, audio: np.ndarray):
    hits, scores = [], []
    for i in range(len(audio) // FRAME_SAMPLES):
        frame = audio[i * FRAME_SAMPLES : (i + 1) * FRAME_SAMPLES]
        hit = detector.process(frame, (i + 1) * FRAME_SECONDS)
        scores.append(detector.models[0].last_score)
        if hit:
            hits.append(hit)
    return hits, scores


@pytest.fixture(scope="module")
def hey_jarvis_audio(speak):
    wake = speak("Hey Jarvis.")
    return (
        np.concatenate([silence(1.5), wake, silence(0.3), speak("What time is it?"), silence(1.0)]),
        1.5,
        1.5 + len(wake) / 16000,
    )


@pytest.mark.integration
def test_detects_hey_jarvis_at_the_right_time(wake_detector_factory, hey_jarvis_audio):
    audio, start, end = hey_jarvis_audio
    hits, _ = feed(wake_detector_factory(models=("hey_jarvis",)), audio)
    assert [h.model for h in hits] == ["hey_jarvis"]
    assert start + 0.3 < hits[0].at_s <= end + 0.4
    assert hits[0].score >= 0.5


@pytest.mark.integration
def test_no_detection_in_speech_without_the_wake_word(wake_detector_factory, recording):
    detector = wake_detector_factory(models=("hey_jarvis", "alexa", "hey_mycroft"))
    for name in ("beckett", "two-cities"):
        hits, _ = feed(detector, recording(name))
        assert hits == [], f"false wake in {name}: {hits}"


@pytest.mark.integration
def test_several_wake_words_at_once(wake_detector_factory, speak):
    detector = wake_detector_factory(models=("hey_jarvis", "alexa"))
    audio = np.concatenate([silence(1.0), speak("Alexa."), silence(2.5), speak("Hey Jarvis."), silence(1.5)])
    hits, _ = feed(detector, audio)
    assert [h.model for h in hits] == ["alexa", "hey_jarvis"]


@pytest.mark.integration
def test_voice_gate_gives_the_same_scores(wake_detector_factory, hey_jarvis_audio):
    audio, _, _ = hey_jarvis_audio
    _, gated = feed(wake_detector_factory(vad_gate=True), audio)
    _, always = feed(wake_detector_factory(vad_gate=False), audio)
    peak = int(np.argmax(always))
    assert gated[peak - 3 : peak + 4] == pytest.approx(always[peak - 3 : peak + 4], abs=1e-6)


@pytest.mark.integration
def test_voice_gate_skips_the_networks_in_silence(wake_detector_factory):
    detector = wake_detector_factory(vad_gate=True)
    rng = np.random.default_rng(1)
    quiet_room = (rng.standard_normal(16000 * 5) * 8).astype(np.int16)
    hits, _ = feed(detector, quiet_room)
    assert hits == []
    assert detector.frames_run == 0
    assert detector.duty == 0.0


@pytest.mark.integration
def test_a_word_tuned_on_its_own(registry, speak):
    from appliance.engines.wake import load_detector
    from appliance.settings import WakeSettings, WakeTuning

    strict_alexa = WakeTuning(name="alexa", threshold=0.5, trigger_level=20)  # 1.6 s of high scores: never
    settings = WakeSettings(models=("hey_jarvis", "alexa"), tuning=(strict_alexa,))
    detector = load_detector(settings, registry.resolve)
    audio = np.concatenate([silence(1.0), speak("Alexa."), silence(2.5), speak("Hey Jarvis."), silence(1.5)])
    hits, _ = feed(detector, audio)
    assert [h.model for h in hits] == ["hey_jarvis"]  # the same audio wakes both untuned (above)


async def test_reload_and_sensitivity_keep_per_word_tuning(tmp_path, engines, registry, caplog):
    from appliance.settings import load_settings

    from .mqtt_support import running

    config = tmp_path / "appliance.toml"
    plain = f'[paths]\nstate_dir = "{tmp_path / "state"}"\nruntime_dir = "{tmp_path / "run"}"\n'
    config.write_text(plain)
    async with running(load_settings(config, env={}), engines, registry) as app:
        app.controller.config_path = config
        rule = lambda: app.core.wake.models[0].decider.rule  # noqa: E731
        try:
            config.write_text(plain + '[[wake.tuning]]\nname = "hey_jarvis"\nthreshold = 0.8\ntrigger_level = 3\n')
            assert (await app.reload())["applied"] == ["wake"]
            assert rule() == WakeRule(0.8, 3, 2.0)
            app.controller.set_sensitivity(0.6)  # the HA slider: every word, over its tuning, until the next reload
            assert rule() == WakeRule(0.4, 3, 2.0) and app.status()["sensitivity"] == 0.6
            await app.controller.set_wake_words(("hey_jarvis",))
            assert rule() == WakeRule(0.4, 3, 2.0)
            config.write_text(plain + '[[wake.tuning]]\nname = "hey_jarvis"\nrefractory_s = 5\n')
            await app.reload()
            assert rule() == WakeRule(0.5, 1, 5.0)
        finally:  # the engines are shared with later tests
            config.write_text(plain)
            await app.reload()
            assert rule() == WakeRule(0.5, 1, 2.0)
    assert "Not responding" not in caplog.text  # nor before the first frame arrived
