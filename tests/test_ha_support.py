"""The real Home Assistant the tests start (tests/ha_support.py): its home, its token, its agent."""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path

import pytest

from .ha_home import HOME
from .ha_support import INSTALL, HomeAssistant, HomeAssistantError, ha_venv

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def test_home_assistant_starts_with_its_home_in_place(home_assistant: HomeAssistant, record_property):
    ha = home_assistant
    record_property("start_s", round(ha.start_s, 2))
    print(f"Home Assistant start to a furnished home: {ha.start_s:.1f} s")
    assert ha.running and ha.ws({"type": "get_config"})["version"] == "2025.4.4"
    assert ha.start_errors == []
    assert "Installing package" not in ha.log_tail(1_000_000)  # --skip-pip: nothing is installed
    for entity_id in HOME:
        assert ha.state(entity_id)["state"] not in ("unavailable", "unknown") or entity_id.startswith("scene.")
    registry = {e["entity_id"]: e for e in ha.ws({"type": "config/entity_registry/list"})}
    assert registry["light.kitchen_light"]["area_id"] == "kitchen"
    assert registry["cover.garage_door"]["area_id"] == "garage"
    assert ha.ws({"type": "config/entity_registry/get", "entity_id": "light.living_room_lamp"})["aliases"] == [
        "reading lamp"
    ]
    areas = {a["area_id"]: a for a in ha.ws({"type": "config/area_registry/list"})}
    assert set(areas) == {"kitchen", "living_room", "hallway", "garage"}
    assert areas["kitchen"]["floor_id"] == "downstairs" and areas["garage"]["floor_id"] is None
    exposed = ha.ws({"type": "homeassistant/expose_entity/list"})["exposed_entities"]
    assert set(exposed) == {e for e, info in HOME.items() if info.get("expose", True)}
    assert "light.hallway_light" not in exposed


def test_the_long_lived_token_is_private_and_works(home_assistant: HomeAssistant):
    ha = home_assistant
    assert stat.S_IMODE(ha.token_file.stat().st_mode) == 0o600
    assert ha.token_file.read_text().strip() == ha.token
    assert ha.rest("GET", "/api/")["message"] == "API running."
    with pytest.raises(HomeAssistantError, match="401"):
        ha.rest("GET", "/api/", auth=False)


def test_services_change_real_states(home_assistant: HomeAssistant):
    ha = home_assistant
    try:
        ha.call("light", "turn_on", entity_id="light.kitchen_light", brightness=77)
        assert ha.wait_state("light.kitchen_light", "on", 10)["attributes"]["brightness"] == 77
        ha.call("cover", "open_cover", entity_id="cover.garage_door")
        ha.wait_state("cover.garage_door", "open", 10)
        ha.call("scene", "turn_on", entity_id="scene.movie_time")
        ha.wait_state("light.living_room_lamp", "on", 10)
        ha.wait_state("light.kitchen_light", "off", 10)
        ha.call("script", "turn_on", entity_id="script.good_night")
        ha.wait_state("cover.garage_door", "closed", 10)
        ha.wait_state("light.living_room_lamp", "off", 10)
        ha.call("input_number", "set_value", entity_id="input_number.living_room_temperature", value=19)
        ha.wait_state("sensor.living_room_temperature", "19.0", 10)
    finally:
        ha.reset_home()
    ha.wait_state("sensor.living_room_temperature", "21.5", 10)


def test_home_assistants_own_agent_acts_only_on_exposed_entities(home_assistant: HomeAssistant):
    ha = home_assistant
    try:
        said = ha.rest("POST", "/api/conversation/process", {"text": "turn on the porch light", "language": "en"})
        assert said["response"]["response_type"] == "action_done"
        ha.wait_state("light.porch_light", "on", 10)
        said = ha.rest("POST", "/api/conversation/process", {"text": "turn on the hallway light", "language": "en"})
        assert said["response"]["response_type"] == "error"
        assert ha.state("light.hallway_light")["state"] == "off"
    finally:
        ha.reset_home()


def test_the_integrations_the_tests_add_import_without_pip():
    """--skip-pip: what esphome (with bluetooth and usb) and wyoming need was installed by scripts/setup."""
    python = ha_venv() / "bin" / "python"
    modules = [f"homeassistant.components.{d}" for d in ("esphome", "bluetooth", "usb", "wyoming")]
    imports = "import " + ", ".join([*modules, "aioesphomeapi", "habluetooth", "aiousbwatcher", "wyoming"])
    done = subprocess.run([str(python), "-c", imports], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


def test_without_its_venv_the_harness_fails_with_the_install_command(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("APPLIANCE_HA_VENV", str(tmp_path / "none"))
    with pytest.raises(HomeAssistantError, match=INSTALL.replace("-", r"\-")):
        HomeAssistant.start(tmp_path / "ha")


def test_a_home_assistant_that_exits_fails_the_harness_with_its_log(tmp_path: Path, monkeypatch):
    hass = tmp_path / "venv" / "bin" / "hass"
    hass.parent.mkdir(parents=True)
    hass.write_text("#!/bin/sh\necho 'Invalid config for http: port in use' >&2\nexit 3\n")
    hass.chmod(0o755)
    monkeypatch.setenv("APPLIANCE_HA_VENV", str(tmp_path / "venv"))
    with pytest.raises(HomeAssistantError, match=r"exited while starting(.|\n)*port in use"):
        HomeAssistant.start(tmp_path / "ha")
