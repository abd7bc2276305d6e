"""``[esphome]`` settings and the API key file: bad values exit 78 naming key, value and what is allowed."""

from __future__ import annotations

import base64
import subprocess
import sys
from pathlib import Path

import pytest

from appliance.core.errors import ConfigError
from appliance.integrations.esphome.feature import read_key
from appliance.integrations.esphome.noise import decode_key
from appliance.settings import Settings, settings_from_dict

EXIT_CONFIG = 78


def check(tmp_path: Path, toml: str) -> subprocess.CompletedProcess[str]:
    cfg = tmp_path / "appliance.toml"
    cfg.write_text(toml)
    return subprocess.run(
        [sys.executable, "-m", "appliance", "--config", str(cfg), "config", "check"],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_off_by_default_on_loopback_6053():
    s = Settings().esphome
    assert (s.enabled, s.host, s.port, s.pipeline, s.encryption_key_file) == (False, "127.0.0.1", 6053, "local", "")
    assert settings_from_dict({"esphome": {"pipeline": "home_assistant"}}).esphome.pipeline == "home_assistant"


@pytest.mark.parametrize(
    ("toml", "said"),
    [
        (
            '[esphome]\npipeline = "cloud"\n',
            "esphome.pipeline = 'cloud' is not allowed: choose one of local, home_assistant",
        ),
        ("[esphome]\nport = 70000\n", "esphome.port = 70000 is out of range: allowed 0..65535"),
        ('[esphome]\nhost = ""\n', "host = '' is not allowed"),
        ('[esphome]\nname = "living room"\n', "name = 'living room' is not allowed"),
        ("[esphome]\nmax_clients = 0\n", "esphome.max_clients = 0 is out of range"),
    ],
)
def test_bad_values_exit_78(tmp_path: Path, toml: str, said: str):
    proc = check(tmp_path, toml)
    assert proc.returncode == EXIT_CONFIG, proc.stderr
    assert said in proc.stderr


def test_the_key_file_is_read_and_never_echoed(tmp_path: Path):
    key = bytes(range(32))
    good = tmp_path / "good.key"
    good.write_text(base64.b64encode(key).decode() + "\n")
    assert read_key(str(good)) == key
    assert read_key("") is None
    secret = base64.b64encode(b"x" * 31).decode()
    short = tmp_path / "short.key"
    short.write_text(secret)
    with pytest.raises(ConfigError, match="31 bytes, not 32") as err:
        read_key(str(short))
    assert secret not in err.value.message and str(short) in err.value.message
    with pytest.raises(ConfigError, match="No such file"):
        read_key(str(tmp_path / "missing.key"))
    with pytest.raises(ValueError, match="not base64"):
        decode_key("not base64 at all!")


async def test_a_bad_key_file_stops_the_appliance_before_it_serves(tmp_path: Path, engines, registry):
    from tests.esphome_support import serving

    bad = tmp_path / "bad.key"
    bad.write_text("c2hvcnQ=")  # base64 of "short"
    with pytest.raises(ConfigError, match=r"esphome.encryption_key_file = .*bad.key.*5 bytes, not 32"):
        async with serving(tmp_path, engines, registry, encryption_key_file=str(bad)):
            pass
    assert check(tmp_path, f'[esphome]\nencryption_key_file = "{bad}"\n').returncode == 0  # read at start only
