"""The appliance as an ESPHome voice device, reached by aioesphomeapi's real APIClient (as Home Assistant does)."""

from __future__ import annotations

import contextlib
import http.server
import io
import threading
import time
import wave
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from aioesphomeapi import (
    InvalidEncryptionKeyAPIError,
    MediaPlayerCommand,
    MediaPlayerEntityState,
    MediaPlayerInfo,
    RequiresEncryptionAPIError,
    SwitchInfo,
    SwitchState,
    TextSensorInfo,
    TextSensorState,
    VoiceAssistantFeature,
    VoiceAssistantTimerEventType,
)
from aioesphomeapi.core import APIConnectionError

from appliance.integrations.esphome.device import KEY_LAST_REPLY, KEY_MEDIA_PLAYER, KEY_MUTE
from appliance.settings import BUILTIN_WAKE_WORDS
from appliance.voice.turn_record import Source, TurnRecord
from tests.esphome_support import KEY, TIMEOUT_S, client, key_file, serving, until
from tests.fakes import RecordingSink

pytestmark = pytest.mark.integration


class TappedSink(RecordingSink):
    """Records when the first audible sample of each play reached the output (monotonic seconds)."""

    def __init__(self) -> None:
        super().__init__()
        self.audible: list[float] = []
        self.on_played.append(self._heard)

    def _heard(self, samples: np.ndarray, rate: int, at_mono: float) -> None:
        if np.any(samples):
            self.audible.append(at_mono)

    def first_after(self, t: float) -> float | None:
        return next((a for a in self.audible if a >= t), None)


@contextlib.contextmanager
def http_serving(files: dict[str, bytes]) -> Iterator[str]:
    """A local HTTP server (the stand-in for Home Assistant's media URLs): its base URL."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = files.get(self.path)
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Length", str(len(body or b"")))
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def wav_bytes(samples: np.ndarray, rate: int) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(samples.astype("<i2").tobytes())
    return out.getvalue()


async def test_device_info_and_entities_over_plaintext(tmp_path: Path, engines, registry):
    async with serving(tmp_path, engines, registry) as (_app, feature), client(feature.port) as api:
        info = await api.device_info()
        assert info.name == "appliance-test-satellite"
        assert info.mac_address == feature.identity.mac
        flags = info.voice_assistant_feature_flags_compat(api.api_version)
        assert flags & VoiceAssistantFeature.VOICE_ASSISTANT
        assert flags & VoiceAssistantFeature.ANNOUNCE and flags & VoiceAssistantFeature.TIMERS
        assert flags & VoiceAssistantFeature.START_CONVERSATION and flags & VoiceAssistantFeature.API_AUDIO
        entities, services = await api.list_entities_services()
        assert {MediaPlayerInfo, SwitchInfo, TextSensorInfo} <= {type(e) for e in entities}
        player = next(e for e in entities if isinstance(e, MediaPlayerInfo))
        assert any(f.purpose == 1 and f.format == "wav" for f in player.supported_formats)
        assert next(e for e in entities if isinstance(e, SwitchInfo)).name == "Mute"
        assert services == []
        assert feature.status()["clients"] == 1


async def test_noise_with_the_key_connects_and_other_clients_are_refused(tmp_path: Path, engines, registry):
    async with serving(tmp_path, engines, registry, encryption_key_file=key_file(tmp_path)) as (_app, feature):
        async with client(feature.port, noise_psk=KEY) as api:
            assert (await api.device_info()).name == "appliance-test-satellite"
            entities, _ = await api.list_entities_services()
            assert len(entities) == 4
        with pytest.raises(RequiresEncryptionAPIError):
            async with client(feature.port):
                pass
        wrong = "A" * 43 + "="  # base64 of 32 zero bytes: a well-formed key, not this device's
        with pytest.raises(InvalidEncryptionKeyAPIError):
            async with client(feature.port, noise_psk=wrong):
                pass
        async with client(feature.port, noise_psk=KEY) as api:  # the device serves on
            assert (await api.device_info()).mac_address == feature.identity.mac
        status = feature.status()
        assert status["encrypted"] is True
        assert status["closed_for"] == {"esphome-framing": 1, "esphome-bad-key": 1}
        assert KEY not in str(status)


async def test_a_noise_client_is_refused_without_a_key(tmp_path: Path, engines, registry):
    async with serving(tmp_path, engines, registry) as (_app, feature):
        with pytest.raises(APIConnectionError):
            async with client(feature.port, noise_psk=KEY):
                pass
        async with client(feature.port) as api:
            assert (await api.device_info()).name
        assert feature.status()["closed_for"] == {"esphome-framing": 1}


async def test_states_follow_the_mute_switch_and_the_media_player(tmp_path: Path, engines, registry):
    async with serving(tmp_path, engines, registry) as (app, feature), client(feature.port) as api:
        control = app.controller
        states: list[object] = []
        api.subscribe_states(states.append)
        await until(lambda: any(isinstance(s, SwitchState) for s in states), what="the first states")
        assert next(s for s in states if isinstance(s, SwitchState)).state is False

        api.switch_command(KEY_MUTE, True)
        await until(lambda: control.muted, what="the appliance muted")
        await until(
            lambda: (
                isinstance(states[-1], TextSensorState) and any(isinstance(s, SwitchState) and s.state for s in states)
            ),
            what="the mute state",
        )
        api.switch_command(KEY_MUTE, False)
        await until(lambda: not control.muted, what="the appliance unmuted")

        api.media_player_command(KEY_MEDIA_PLAYER, volume=0.4)
        await until(lambda: control.volume == 40, what="the volume")
        api.media_player_command(KEY_MEDIA_PLAYER, command=MediaPlayerCommand.MUTE)
        await until(lambda: control.volume == 0, what="the speaker muted")
        player = [s for s in states if isinstance(s, MediaPlayerEntityState)]
        await until(
            lambda: any(
                s.muted and abs(s.volume - 0.4) < 0.01 for s in states if isinstance(s, MediaPlayerEntityState)
            ),
            what="the muted player state",
        )
        api.media_player_command(KEY_MEDIA_PLAYER, command=MediaPlayerCommand.UNMUTE)
        await until(lambda: control.volume == 40, what="the volume restored")

        control.set_muted(True)  # the mute command or button, not Home Assistant: the switch follows
        await until(
            lambda: (
                isinstance(states[-1], TextSensorState) and [s for s in states if isinstance(s, SwitchState)][-1].state
            ),
            what="the switch following",
        )
        assert player


async def test_home_assistant_chooses_the_wake_word(tmp_path: Path, engines, registry):
    async with serving(tmp_path, engines, registry) as (app, feature), client(feature.port) as api:
        config = await api.get_voice_assistant_configuration(TIMEOUT_S)
        assert [w.id for w in config.available_wake_words] == list(BUILTIN_WAKE_WORDS)
        assert config.active_wake_words == ["hey_jarvis"]
        try:
            await api.set_voice_assistant_configuration(["alexa"])
            await until(lambda: app.controller.wake_words == ("alexa",), what="the wake word switched")
            assert (await api.get_voice_assistant_configuration(TIMEOUT_S)).active_wake_words == ["alexa"]
            await api.set_voice_assistant_configuration(["not_a_model"])  # ignored, logged
            assert (await api.get_voice_assistant_configuration(TIMEOUT_S)).active_wake_words == ["alexa"]
        finally:  # the session's engines are shared: their detector listens for Hey Jarvis again
            await app.controller.set_wake_words(("hey_jarvis",))


async def test_an_announcement_plays_home_assistants_wav_on_the_output(tmp_path: Path, engines, registry):
    voice = engines.tts
    speech = voice.synthesize_all("Dinner is ready.")
    chime = (np.sin(np.arange(4410) * 2 * np.pi * 880 / 22050) * 8000).astype(np.int16)
    sink = TappedSink()
    files = {"/tts.wav": wav_bytes(speech, voice.sample_rate), "/chime.wav": wav_bytes(chime, 22050)}
    with http_serving(files) as base:
        async with serving(tmp_path, engines, registry, sink=sink) as (_app, feature), client(feature.port) as api:
            called = time.monotonic()
            done = await api.send_voice_assistant_announcement_await_response(
                f"{base}/tts.wav", TIMEOUT_S, "Dinner is ready.", preannounce_media_id=f"{base}/chime.wav"
            )
            assert done.success is True
            first = sink.first_after(called)
            assert first is not None
            played = np.concatenate(sink.played)
            assert np.count_nonzero(played) > 0.5 * (len(speech) + len(chime)) * sink.rate / voice.sample_rate
            print(f"\nannounce call -> first sample: {(first - called) * 1000:.0f} ms")
            assert first - called < 2.0
            assert feature.status()["announcements"] == 1


async def test_audio_from_elsewhere_is_refused_and_the_text_is_said(tmp_path: Path, engines, registry):
    sink = TappedSink()
    async with serving(tmp_path, engines, registry, sink=sink) as (_app, feature), client(feature.port) as api:
        for url in ("file:///etc/passwd", "http://192.0.2.1/tts.wav", "ftp://127.0.0.1/x.wav"):
            done = await api.send_voice_assistant_announcement_await_response(url, TIMEOUT_S, "Hello there.")
            assert done.success is False
        assert feature.status()["media_failed"] == 3
        assert len(sink.audible) > 0  # the text, in the appliance's own voice
        done = await api.send_voice_assistant_announcement_await_response("", TIMEOUT_S, "Only words.")
        assert done.success is True


async def test_a_home_assistant_timer_rings_on_the_appliance(tmp_path: Path, engines, registry):
    sink = TappedSink()
    async with serving(tmp_path, engines, registry, sink=sink) as (app, feature), client(feature.port) as api:
        api.send_voice_assistant_timer_event(
            VoiceAssistantTimerEventType.VOICE_ASSISTANT_TIMER_STARTED, "t1", "pasta", 300, 300, True
        )
        await until(lambda: feature.status()["timers"] == 1, what="the timer kept")
        finished = time.monotonic()
        api.send_voice_assistant_timer_event(
            VoiceAssistantTimerEventType.VOICE_ASSISTANT_TIMER_FINISHED, "t1", "pasta", 300, 0, False
        )
        await until(lambda: sink.first_after(finished) is not None, what="the ring")
        assert feature.status() | {} and feature.status()["timers_rung"] == 1
        assert feature.status()["timers"] == 0
        assert await app.controller.stop()  # it rings until stopped, like a local timer


async def test_each_spoken_turn_is_reported_as_the_last_request_and_reply(tmp_path: Path, engines, registry):
    async with serving(tmp_path, engines, registry) as (_app, feature), client(feature.port) as api:
        states: list[object] = []
        api.subscribe_states(states.append)
        await until(lambda: len(states) >= 4, what="the first states")
        record = TurnRecord(turn_id=7, source=Source.VOICE, transcript="What time is it?", reply="It's 7:05 pm.")
        feature.on_turn_finished(record)
        await until(
            lambda: any(
                isinstance(s, TextSensorState) and s.key == KEY_LAST_REPLY and s.state == "It's 7:05 pm."
                for s in states
            ),
            what="the reply sensor",
        )
        feature.on_turn_finished(TurnRecord(turn_id=8, source=Source.TEXT, transcript="x", reply="y"))
        assert feature.status()["turns_reported"] == 1
