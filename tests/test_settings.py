"""Configuration: TOML + environment, and errors that name key, value and what is allowed."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from appliance.core.errors import EXIT_CONFIG, ConfigError
from appliance.settings import describe_defaults, load_settings, settings_from_dict


def test_defaults_are_valid():
    s = load_settings(None, env={})
    assert s.wake.models == ("hey_jarvis",)
    assert s.vad.end_silence_s == 0.6
    assert (s.vad.turn_model, s.vad.end_silence_min_s, s.vad.end_silence_max_s) == ("smart-turn", 0.2, 1.5)
    assert s.device_id  # derived from the hostname


def test_toml_and_env_override(tmp_path: Path):
    cfg = tmp_path / "a.toml"
    cfg.write_text('[wake]\nmodels = ["alexa", "hey_jarvis"]\nthreshold = 0.6\n[audio]\nvolume = 40\n')
    s = load_settings(cfg, env={"APPLIANCE_AUDIO_VOLUME": "55", "APPLIANCE_LLM_N_GPU_LAYERS": "-1"})
    assert s.wake.models == ("alexa", "hey_jarvis")
    assert s.wake.threshold == 0.6
    assert s.audio.volume == 55
    assert s.llm.n_gpu_layers == -1


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        ({"wake": {"treshold": 0.5}}, "unknown key wake.treshold; allowed keys:"),
        ({"audio": {"volume": 150}}, "audio.volume = 150 is out of range: allowed 0..100 %"),
        ({"vad": {"engine": "magic"}}, "vad.engine = 'magic' is not allowed: choose one of silero, webrtc"),
        ({"wake": {"models": "hey_jarvis"}}, None),  # a string becomes a one-item list
        ({"stt": {"beam_size": 1.5}}, "stt.beam_size = 1.5 is not allowed: expected an integer"),
        ({"audio": {"earcon": "maybe"}}, "audio.earcon = 'maybe' is not allowed: expected true or false"),
        ({"nonsense": {}}, "unknown section [nonsense]"),
        ({"vad": {"turn_model": "magic"}}, "vad.turn_model = 'magic' is not allowed: choose one of smart-turn, off"),
        (
            {"vad": {"end_silence_min_s": 0.8}},
            "vad: end_silence_min_s <= end_silence_s <= end_silence_max_s is required, got 0.8 <= 0.6 <= 1.5",
        ),
        ({"vad": {"end_silence_s": 2.0}}, "got 0.2 <= 2.0 <= 1.5"),
    ],
)
def test_bad_values_name_key_value_and_allowed(raw, needle):
    if needle is None:
        assert settings_from_dict(raw).wake.models == ("hey_jarvis",)
        return
    with pytest.raises(ConfigError) as info:
        settings_from_dict(raw)
    assert needle in info.value.message


def test_bad_env_value_is_refused():
    with pytest.raises(ConfigError, match=r"wake\.threshold = 'high'"):
        load_settings(None, env={"APPLIANCE_WAKE_THRESHOLD": "high"})


def test_syntax_error_names_the_file(tmp_path: Path):
    cfg = tmp_path / "broken.toml"
    cfg.write_text("[wake\n")
    with pytest.raises(ConfigError, match=r"broken\.toml"):
        load_settings(cfg, env={})


def test_cli_exits_78_on_bad_config(tmp_path: Path):
    cfg = tmp_path / "bad.toml"
    cfg.write_text("[vad]\nend_silence_s = 99\n")
    proc = subprocess.run(
        [sys.executable, "-m", "appliance", "--config", str(cfg), "config", "check"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == EXIT_CONFIG
    assert "vad.end_silence_s = 99 is out of range: allowed 0.1..5.0 s" in proc.stderr


def test_defaults_file_round_trips(tmp_path: Path):
    text = describe_defaults()
    assert "# end_silence_s = 0.6" in text
    key_line = re.compile(r"^# [a-z_]+ = ")
    uncommented = "\n".join(line[2:] if key_line.match(line) else line for line in text.splitlines())
    cfg = tmp_path / "defaults.toml"
    cfg.write_text(uncommented)
    assert load_settings(cfg, env={}) == load_settings(None, env={})


def test_mqtt_devices_are_an_array_of_tables(tmp_path: Path):
    cfg = tmp_path / "home.toml"
    cfg.write_text(
        '[mqtt]\nhost = "broker.lan"\n'
        '[[mqtt.devices]]\nname = "kitchen light"\narea = "kitchen"\ncommand_topic = "home/kitchen/light/set"\n'
        '[[mqtt.devices]]\nname = "fan"\nkind = "fan"\ncommand_topic = "home/fan"\naliases = ["ceiling fan"]\n'
    )
    s = load_settings(cfg, env={})
    assert s.mqtt.enabled and [d.name for d in s.mqtt.devices] == ["kitchen light", "fan"]
    assert s.mqtt.devices[1].aliases == ("ceiling fan",) and s.mqtt.devices[0].payload_on == "ON"
    assert not load_settings(None, env={}).mqtt.enabled  # no broker configured: MQTT is off


@pytest.mark.parametrize(
    ("devices", "needle"),
    [
        ([{"name": "lamp"}], "mqtt.devices[0]: command_topic = '' is not allowed"),
        ([{"name": "", "command_topic": "x"}], "mqtt.devices[0]: name is required"),
        ([{"name": "a", "command_topic": "x/#"}], "command_topic = 'x/#' is not allowed"),
        ([{"name": "a", "command_topic": "x", "colour": "red"}], "unknown key mqtt.devices[0].colour"),
        ([{"name": "a", "command_topic": "x", "kind": "robot"}], "mqtt.devices[0].kind = 'robot' is not allowed"),
        ("lamp", "expected [[mqtt.devices]] tables"),
    ],
)
def test_bad_devices_name_the_table_and_key(devices, needle):
    with pytest.raises(ConfigError) as info:
        settings_from_dict({"mqtt": {"devices": devices}})
    assert needle in info.value.message


def test_mqtt_protocol_and_port_are_validated():
    with pytest.raises(ConfigError, match=r"mqtt\.protocol = '4' is not allowed: choose one of 5, 3\.1\.1"):
        load_settings(None, env={"APPLIANCE_MQTT_PROTOCOL": "4"})
    with pytest.raises(ConfigError, match=r"mqtt\.port = 70000 is out of range"):
        settings_from_dict({"mqtt": {"port": 70000}})


def test_wake_words_have_their_own_tuning_tables(tmp_path: Path):
    from appliance.engines.wake import WakeRule, wake_rules

    cfg = tmp_path / "wake.toml"
    cfg.write_text(
        '[wake]\nmodels = ["hey_jarvis", "alexa", "/opt/words/hey_kitchen.tflite"]\nthreshold = 0.5\n'
        '[[wake.tuning]]\nname = "alexa"\nthreshold = 0.7\ntrigger_level = 2\nrefractory_s = 0\n'
        '[[wake.tuning]]\nname = "hey_kitchen"\nrefractory_s = 4.0\n'
    )
    rules = wake_rules(load_settings(cfg, env={}).wake)
    assert rules == {
        "hey_jarvis": WakeRule(0.5, 1, 2.0),  # no table: the [wake] values
        "alexa": WakeRule(0.7, 2, 0.0),
        "hey_kitchen": WakeRule(0.5, 1, 4.0),  # keys left out keep the [wake] values
    }


@pytest.mark.parametrize(
    ("tuning", "needle"),
    [
        ([{"name": "hey_siri"}], "wake: tuning[0].name = 'hey_siri' is not a wake word here: choose one of alexa,"),
        ([{"threshold": 0.6}], "wake.tuning[0]: name is required"),
        ([{"name": "alexa", "threshold": 1.5}], "wake.tuning[0].threshold = 1.5 is out of range: allowed 0.0..0.99"),
        ([{"name": "alexa", "sensitivity": 0.5}], "unknown key wake.tuning[0].sensitivity"),
    ],
)
def test_bad_wake_tuning_names_the_key(tuning, needle):
    with pytest.raises(ConfigError) as info:
        settings_from_dict({"wake": {"tuning": tuning}})
    assert needle in info.value.message


@pytest.mark.parametrize(
    ("llm", "needle"),
    [
        ({"server_url": "ftp://box/v1"}, "llm: server_url = 'ftp://box/v1' is not allowed: the scheme must be http"),
        ({"server_url": "http://box:8080"}, "server_url = 'http://box:8080' is not allowed: expected a base URL"),
        ({"server_url": "http:///v1"}, "server_url = 'http:///v1' is not allowed: it names no host"),
        ({"server_url": "http://box:port/v1"}, "llm: server_url is not a URL"),
        ({"server_url": "http://me:hunter2@box/v1"}, "server_url = 'http://box/v1' must not carry credentials"),
        ({"server_timeout_s": -1}, "llm.server_timeout_s = -1 is out of range: allowed 0.1..30.0 s"),
        ({"server_timeout_s": "soon"}, "llm.server_timeout_s = 'soon' is not allowed: expected a number"),
        ({"server_api_key_file": "/nonexistent/llm.key"}, "server_api_key_file = '/nonexistent/llm.key': no such file"),
    ],
)
def test_bad_llm_server_settings_name_the_key(llm, needle):
    with pytest.raises(ConfigError) as info:
        settings_from_dict({"llm": llm})
    assert needle in info.value.message
    assert "hunter2" not in info.value.message  # a password in the URL never reaches an error (or a log)


def test_llm_server_settings_load_from_toml_and_env(tmp_path: Path):
    key = tmp_path / "llm.key"
    key.write_text("sk-local\n")
    cfg = tmp_path / "server.toml"
    cfg.write_text(f'[llm]\nserver_url = "http://gpu-box.lan:8080/v1"\nserver_api_key_file = "{key}"\n')
    s = load_settings(cfg, env={"APPLIANCE_LLM_SERVER_TIMEOUT_S": "0.8", "APPLIANCE_LLM_SERVER_MODEL": "qwen"})
    assert (s.llm.server_url, s.llm.server_model, s.llm.server_timeout_s) == ("http://gpu-box.lan:8080/v1", "qwen", 0.8)
    assert load_settings(None, env={}).llm.server_url == ""  # the default: local only
