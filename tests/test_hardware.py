"""Board profiles (validation, ALSA defaults) and the LED state decisions, with plain values."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from appliance.board.indicator import (
    PATTERNS,
    STATES,
    IndicatorState,
    choose_state,
)
from appliance.board.profiles import apply_profile, load_profile
from appliance.core.errors import ConfigError
from appliance.core.events import (
    ErrorRaised,
    MuteChanged,
    Stage,
    StageChanged,
)
from appliance.settings import Settings, load_settings

HARDWARE = Path(__file__).resolve().parent.parent / "hardware"


@pytest.mark.parametrize("name", ["jetson-orin-nano", "raspberry-pi-5", "generic-linux"])
def test_shipped_profiles_load(name):
    profile = load_profile(name)
    assert profile.path == HARDWARE / f"{name}.toml"
    assert profile.camera.pipeline.endswith("max-buffers=1")
    if name == "generic-linux":
        assert profile.gpio == "none" and not profile.buttons and profile.leds.kind == "none"
    else:
        assert set(profile.buttons) == {"mute", "action", "camera"}
        assert profile.buttons["action"].mode == "momentary"
        assert profile.input_device == "appliance_mic"


def test_jetson_profile_uses_jetson_gpio_without_pwm():
    profile = load_profile("jetson-orin-nano")
    assert profile.gpio == "jetson"
    assert profile.leds.kind == "mono" and profile.leds.pwm is False


def test_gpio_setting_overrides_the_profile():
    assert load_profile("raspberry-pi-5", gpio_override="mock").gpio == "mock"
    assert load_profile("raspberry-pi-5", gpio_override="none").has_gpio is False


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "board.toml"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[board]\ngpio = "pigpio"\n', "board.gpio = 'pigpio' is not allowed: choose one of lgpio, jetson, mock, none"),
        ("[buttons.mute]\npin = 99\n", "buttons.mute.pin = 99 is not allowed: a BCM GPIO number 0..53"),
        ("[buttons.mute]\nmode = 'toggle'\n", "buttons.mute.pin is required"),
        ("[buttons.volume]\npin = 3\n", "unknown key buttons.volume; allowed keys: mute, action, camera"),
        ("[buttons.mute]\npin = 3\n[buttons.action]\npin = 3\n", "buttons.action.pin = 3 is already used by"),
        ('[leds]\nkind = "rgb"\nred = 5\ngreen = 6\n', "leds.blue is required"),
        ("[buttons.action]\npin = 4\nmode = 'toggle'\n", "buttons.action.mode must be 'momentary'"),
        ("[leds]\nkind = 'rgb'\nred = 5\ngreen = 6\nblue = 7\npwm = 'yes'\n", "leds.pwm = 'yes' is not allowed"),
    ],
)
def test_profile_errors_name_file_key_and_allowed_values(tmp_path, text, message):
    with pytest.raises(ConfigError) as err:
        load_profile(write(tmp_path, text))
    assert message in err.value.message
    assert err.value.message.startswith("board.toml: ")
    assert err.value.exit_code == 78


def test_unknown_profile_name_lists_the_known_ones():
    with pytest.raises(ConfigError) as err:
        load_profile("raspberry-pi-6")
    assert "generic-linux, jetson-orin-nano, raspberry-pi-5" in err.value.message


def test_hardware_settings_from_config_and_environment(tmp_path):
    config = tmp_path / "appliance.toml"
    config.write_text('[hardware]\nprofile = "raspberry-pi-5"\nlong_press_s = 0.8\n')
    settings = load_settings(config, env={"APPLIANCE_HARDWARE_GPIO": "none"})
    assert settings.hardware.profile == "raspberry-pi-5"
    assert settings.hardware.long_press_s == 0.8
    assert settings.hardware.gpio == "none"
    with pytest.raises(ConfigError) as err:
        load_settings(None, env={"APPLIANCE_HARDWARE_GPIO": "pigpio"})
    assert "hardware.gpio = 'pigpio'" in err.value.message


def test_profile_audio_devices_fill_in_defaults_only():
    profile = load_profile("raspberry-pi-5")
    settings = apply_profile(Settings(), profile)
    assert (settings.audio.input_device, settings.audio.output_device) == ("appliance_mic", "appliance_speaker")
    own = replace(Settings(), audio=replace(Settings().audio, input_device="ReSpeaker"))
    assert apply_profile(own, profile).audio.input_device == "ReSpeaker"
    assert apply_profile(Settings(), load_profile("generic-linux")) == Settings()


# -- LED states ---------------------------------------------------------------------


def test_every_state_has_a_pattern():
    assert set(PATTERNS) == set(STATES)


@pytest.mark.parametrize(
    ("stage", "muted", "error_until", "now", "expected"),
    [
        ("idle", False, 0.0, 10.0, "idle"),
        ("listening", False, 0.0, 10.0, "listening"),
        ("thinking", False, 12.0, 10.0, "error"),  # a recent error shows over the stage
        ("thinking", False, 9.0, 10.0, "thinking"),  # and ends
        ("speaking", True, 12.0, 10.0, "muted"),  # the privacy indicator wins over everything
        ("bogus", False, 0.0, 10.0, "idle"),
    ],
)
def test_choose_state(stage, muted, error_until, now, expected):
    assert choose_state(stage, muted, error_until, now) == expected


def test_indicator_folds_events_and_times_out_errors():
    state = IndicatorState(error_hold_s=4.0)
    state.apply(StageChanged(stage=Stage.SPEAKING), now=100.0)
    assert state.state(100.0) == "speaking"
    state.apply(ErrorRaised(code="tts-failed", message="x"), now=101.0)
    assert state.state(102.0) == "error"
    assert state.next_change(102.0) == pytest.approx(3.0)
    assert state.state(105.5) == "speaking"
    assert state.next_change(105.5) is None
    state.apply(MuteChanged(muted=True), now=106.0)
    assert state.state(106.0) == "muted"


ALSA_HINTS = """
import ctypes, ctypes.util
lib = ctypes.CDLL(ctypes.util.find_library("asound"))
lib.snd_device_name_get_hint.restype = ctypes.c_void_p
hints = ctypes.POINTER(ctypes.c_void_p)()
assert lib.snd_device_name_hint(-1, b"pcm", ctypes.byref(hints)) == 0, "alsa-lib rejected the configuration"
i = 0
while hints[i]:
    name = lib.snd_device_name_get_hint(ctypes.c_void_p(hints[i]), b"NAME")
    if name:
        print(ctypes.string_at(name).decode())
    i += 1
"""


def test_asound_example_parses_and_names_what_the_profiles_open(tmp_path):
    """alsa-lib itself reads the example (as ~/.asoundrc) and lists the profiles' device names."""
    import ctypes.util
    import os
    import subprocess
    import sys

    if ctypes.util.find_library("asound") is None:
        pytest.fail("alsa-lib (libasound2) is missing; scripts/setup installs libportaudio2, which needs it")
    (tmp_path / ".asoundrc").write_text((HARDWARE / "asound.conf.example").read_text())
    env = {**os.environ, "HOME": str(tmp_path)}
    result = subprocess.run([sys.executable, "-c", ALSA_HINTS], env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    names = result.stdout.split()
    for name in ("appliance_mic", "appliance_speaker"):
        assert name in names
    profile = load_profile("raspberry-pi-5")
    assert {profile.input_device, profile.output_device} <= set(names)


def test_udev_rules_name_the_cards_asound_uses():
    rules = (HARDWARE / "udev" / "99-appliance.rules").read_text()
    asound = (HARDWARE / "asound.conf.example").read_text()
    for card in ("micarray", "speaker"):
        assert f'ATTR{{id}}="{card}"' in rules and f"CARD={card}" in asound
    assert 'SUBSYSTEM=="gpio", KERNEL=="gpiochip*", GROUP="gpio"' in rules


def test_generic_linux_works_without_the_hardware_folder(tmp_path):
    profile = load_profile("generic-linux", dirs=(tmp_path,))
    assert profile.gpio == "none" and not profile.has_gpio
    with pytest.raises(ConfigError):
        load_profile("raspberry-pi-5", dirs=(tmp_path,))
