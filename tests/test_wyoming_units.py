"""[wyoming] settings (exit 78 naming key, value and what is allowed), the bind, the announcement's address,
header checks, and the audio a client sends turned into what the engines take."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import numpy as np
import pytest

from appliance.core.errors import EXIT_CONFIG, ConfigError
from appliance.integrations.wyoming.announce import announced_address
from appliance.integrations.wyoming.framing import WyomingError, parse_header
from appliance.integrations.wyoming.pcm import PcmInput
from appliance.integrations.wyoming.session import _complete_sentences
from appliance.settings import Settings, load_settings, settings_from_dict


def test_off_by_default_on_loopback():
    s = Settings().wyoming
    assert (s.enabled, s.host, s.port) == (False, "127.0.0.1", 10700)


@pytest.mark.parametrize(
    ("values", "words"),
    [
        ({"port": 70000}, ["wyoming.port", "70000", "0..65535"]),
        ({"max_clients": 0}, ["wyoming.max_clients", "0", "1..256"]),
        ({"idle_timeout_s": "soon"}, ["wyoming.idle_timeout_s", "soon", "a number"]),
        ({"max_audio_s": 0.5}, ["wyoming.max_audio_s", "0.5", "1.0..300.0"]),
        ({"host": ""}, ["host", "''", "127.0.0.1 or 0.0.0.0"]),
        ({"enabled": "maybe"}, ["wyoming.enabled", "maybe", "true or false"]),
        ({"listen": "0.0.0.0"}, ["wyoming.listen", "allowed keys", "host"]),
    ],
)
def test_bad_values_stop_start_up_with_exit_78(values: dict, words: list[str]):
    with pytest.raises(ConfigError) as caught:
        settings_from_dict({"wyoming": values})
    assert caught.value.exit_code == EXIT_CONFIG
    for word in words:
        assert word in str(caught.value)


def test_environment_turns_it_on(tmp_path: Path):
    s = load_settings(None, env={"APPLIANCE_WYOMING_ENABLED": "true", "APPLIANCE_WYOMING_HOST": "0.0.0.0"})
    assert s.wyoming.enabled and s.wyoming.host == "0.0.0.0"


def test_a_loopback_port_is_not_announced():
    assert announced_address("127.0.0.1") is None
    assert announced_address("::1") is None
    assert announced_address("192.168.1.20") == "192.168.1.20"


@pytest.mark.parametrize(
    ("line", "code"),
    [
        (b"{}\n", "wyoming-bad-type"),
        (b'{"type": ""}\n', "wyoming-bad-type"),
        (b'{"type": "x", "data": []}\n', "wyoming-malformed"),
        (b"\xff\xfe\n", "wyoming-malformed"),
        (b'"describe"\n', "wyoming-malformed"),
    ],
)
def test_header_checks(line: bytes, code: str):
    with pytest.raises(WyomingError) as caught:
        parse_header(line)
    assert caught.value.code == code


@pytest.mark.integration
async def test_a_port_in_use_is_a_config_error(engines, registry):
    from appliance.integrations.wyoming.feature import WyomingFeature

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        settings = settings_from_dict({"wyoming": {"enabled": True, "port": port, "announce": False}})
        feature = WyomingFeature(lambda: settings, engines, registry.resolve, ask=_never)
        with pytest.raises(ConfigError) as caught:
            await feature.start()
        await feature.stop()
    assert caught.value.exit_code == EXIT_CONFIG and f"127.0.0.1:{port}" in str(caught.value)


async def _never(text: str):
    raise AssertionError("not asked")


def test_stereo_at_48_khz_becomes_16_khz_mono_across_odd_chunks():
    t = np.arange(48_000) / 48_000
    tone = (8000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)
    stereo = np.repeat(tone, 2).astype("<i2").tobytes()
    pcm = PcmInput(48_000, 2, 2, max_s=5.0)
    out = [pcm.feed(stereo[i : i + 1001]) for i in range(0, len(stereo), 1001)]  # cut inside samples and frames
    audio = np.concatenate([*out, pcm.finish()])
    assert abs(len(audio) - 16_000) <= 2 and pcm.seconds == pytest.approx(1.0)
    spectrum = np.abs(np.fft.rfft(audio.astype(np.float64)))
    assert abs(np.argmax(spectrum) * 16_000 / len(audio) - 440) < 3


@pytest.mark.parametrize(("rate", "width", "channels"), [(4000, 2, 1), (16000, 1, 1), (16000, 2, 3), ("16k", 2, 1)])
def test_formats_the_engines_cannot_take_are_refused(rate, width, channels):
    with pytest.raises(WyomingError) as caught:
        PcmInput(rate, width, channels, max_s=5.0)
    assert caught.value.code == "wyoming-bad-audio"


def test_a_transcription_stops_at_max_audio_s():
    pcm = PcmInput(16_000, 2, 1, max_s=1.0)
    pcm.feed(b"\0" * 32_000)
    with pytest.raises(WyomingError) as caught:
        pcm.feed(b"\0" * 2)
    assert caught.value.code == "wyoming-audio-too-long"


def test_streamed_text_is_cut_after_its_last_sentence():
    assert _complete_sentences("Good morning. The time is") == ("Good morning.", " The time is")
    assert _complete_sentences("No end yet") == ("", "No end yet")
    assert _complete_sentences("One. Two! Three? ") == ("One. Two! Three?", " ")


async def test_a_lan_port_is_found_over_mdns():
    from zeroconf.asyncio import AsyncZeroconf

    from appliance.integrations.wyoming.announce import SERVICE_TYPE, Announcement

    announcement = Announcement("appliance-test-wyoming", "0.0.0.0", 10799)
    await asyncio.wait_for(announcement.start(), 30)
    try:
        if announced_address("0.0.0.0") is None:  # no LAN interface here: then nothing may be announced
            assert announcement.address is None
            return
        browser = AsyncZeroconf()
        try:
            name = f"appliance-test-wyoming.{SERVICE_TYPE}"
            info = await browser.async_get_service_info(SERVICE_TYPE, name, timeout=3000)
        finally:
            await browser.async_close()
    finally:
        await asyncio.wait_for(announcement.stop(), 30)
    assert info is not None and info.port == 10799 and info.parsed_addresses() == [announced_address("0.0.0.0")]


def test_a_peer_is_named_with_its_port_and_ipv6_in_brackets() -> None:
    from appliance.integrations.listener import peer_name

    class Writer:
        def __init__(self, address: object) -> None:
            self.address = address

        def get_extra_info(self, name: str) -> object:
            return self.address if name == "peername" else None

    assert peer_name(Writer(("10.0.0.1", 7))) == "10.0.0.1:7"  # type: ignore[arg-type]
    assert peer_name(Writer(("::1", 5, 0, 0))) == "[::1]:5"  # type: ignore[arg-type]
    assert peer_name(Writer(None)) == "None"  # type: ignore[arg-type]
