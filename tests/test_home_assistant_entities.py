"""Home Assistant's registries, exposure and states as devices; the ``[home_assistant]`` settings; the token file."""

from __future__ import annotations

import pytest

from appliance.core.errors import ConfigError
from appliance.home.assistant import Reading, said_state
from appliance.integrations.home_assistant.entities import Registries, build, kind, reading, withheld
from appliance.integrations.home_assistant.feature import read_token
from appliance.settings import settings_from_dict
from appliance.settings.home_assistant import ACTED_DOMAINS


def state(entity_id: str, value: str = "off", **attributes: object) -> dict[str, object]:
    return {"entity_id": entity_id, "state": value, "attributes": attributes}


REGISTRIES = Registries(
    states=[
        state(
            "light.kitchen", "on", friendly_name="Kitchen light", brightness=128, supported_color_modes=["brightness"]
        ),
        state("light.hall", friendly_name="Hall light", supported_color_modes=["onoff"]),
        state("light.secret", friendly_name="Secret light"),
        state("cover.garage", "closed", friendly_name="Garage door", device_class="garage"),
        state("lock.front", "locked", friendly_name="Front door"),
        state("sensor.lounge_temp", "21.5", friendly_name="Lounge temperature", device_class="temperature"),
        state("scene.movie", "unknown", friendly_name="Movie night"),
        state("climate.heat", "heat", friendly_name="Thermostat"),
        state("person.ann", "home", friendly_name="Ann"),
    ],
    entities=[
        {"entity_id": "light.kitchen", "name": None, "area_id": None, "device_id": "dev1"},
        {"entity_id": "light.hall", "name": "Hallway light", "area_id": "hall", "device_id": None},
        {"entity_id": "cover.garage", "name": None, "area_id": "garage", "device_id": None},
        {"entity_id": "lock.front", "name": None, "area_id": "hall", "device_id": None},
        {"entity_id": "sensor.lounge_temp", "name": None, "area_id": "lounge", "device_id": None},
    ],
    devices=[{"id": "dev1", "area_id": "kitchen"}],
    areas=[
        {"area_id": "kitchen", "name": "Kitchen", "floor_id": "ground"},
        {"area_id": "hall", "name": "Hall", "floor_id": "ground"},
        {"area_id": "garage", "name": "Garage", "floor_id": None},
        {"area_id": "lounge", "name": "Lounge", "floor_id": "ground"},
    ],
    floors=[{"floor_id": "ground", "name": "Ground floor"}],
    exposed={
        e: {"conversation": True}
        for e in (
            "light.kitchen",
            "light.hall",
            "cover.garage",
            "lock.front",
            "sensor.lounge_temp",
            "scene.movie",
            "climate.heat",
            "person.ann",
        )
    }
    | {"light.secret": {"cloud.alexa": True}},
    aliases={"light.kitchen": ["ceiling light", "  "], "cover.garage": ["garage"]},
)


def test_exposed_entities_become_devices_with_names_aliases_areas_and_floors() -> None:
    home = build(REGISTRIES, ACTED_DOMAINS)
    by_id = {d.entity_id: d for d in home.devices}
    assert set(by_id) == {
        "light.kitchen",
        "light.hall",
        "cover.garage",
        "lock.front",
        "sensor.lounge_temp",
        "scene.movie",
    }
    kitchen = by_id["light.kitchen"]
    assert (kitchen.name, kitchen.aliases, kitchen.area, kitchen.floor) == (
        "Kitchen light",
        ("ceiling light",),
        "Kitchen",  # the device's area: the entity has none of its own
        "Ground floor",
    )
    assert kitchen.kind == "light" and kitchen.dimmable
    assert by_id["light.hall"].name == "Hallway light"  # the registry's name beats friendly_name
    assert not by_id["light.hall"].dimmable
    assert by_id["cover.garage"].kind == "cover" and by_id["cover.garage"].floor == ""
    assert by_id["sensor.lounge_temp"].kind == "temperature"
    assert by_id["scene.movie"].area == ""
    assert (home.known, home.exposed) == (9, 8)


def test_an_entity_not_exposed_to_assist_is_withheld_and_never_a_device() -> None:
    home = build(REGISTRIES, ACTED_DOMAINS)
    assert "light.secret" not in {d.entity_id for d in home.devices}
    assert "Secret light" in home.withheld
    assert "Thermostat" in home.withheld  # exposed, but climate is not in expose
    assert "Ann" not in home.withheld  # a person cannot be switched: no reason to refuse her name
    assert withheld(home, "Turn on the secret light, please") == "Secret light"
    assert withheld(home, "turn on the kitchen light") == ""


def test_expose_limits_domains_and_areas() -> None:
    home = build(REGISTRIES, ["light", "lock"], ["hall"])
    assert [d.entity_id for d in home.devices] == ["light.hall", "lock.front"]
    assert "Kitchen light" in home.withheld


def test_a_withheld_name_said_inside_a_usable_one_is_no_refusal() -> None:
    reg = Registries(
        states=[
            state("cover.garage", "closed", friendly_name="Garage door"),
            state("input_boolean.g", friendly_name="Garage door open"),
        ],
        exposed={"cover.garage": {"conversation": True}},
    )
    home = build(reg, ACTED_DOMAINS)
    assert withheld(home, "is the garage door open") == ""
    assert withheld(home, "turn on garage door open") == ""  # names the usable garage door too: HA's agent decides


def test_malformed_registry_rows_are_skipped() -> None:
    reg = Registries(
        states=[{"entity_id": 5}, {"state": "on"}, state("light.x", friendly_name=None), "junk"],  # type: ignore[list-item]
        entities=["junk", {"entity_id": None}],  # type: ignore[list-item]
        exposed={"light.x": {"conversation": True}, "light.y": "yes"},
    )
    home = build(reg, ACTED_DOMAINS)
    assert [(d.name, d.entity_id) for d in home.devices] == [("x", "light.x")]


def test_kinds_and_readings() -> None:
    assert kind("switch", "outlet") == "outlet"
    assert kind("input_boolean") == "switch"
    assert kind("sensor", "humidity") == "humidity"
    assert kind("vacuum") == "vacuum"
    assert reading({"state": 3}) is None
    assert reading({"state": "on", "attributes": "x"}) == Reading("on", {})
    assert Reading("on", {"brightness": 255}).brightness == 100
    assert Reading("off", {"brightness": 255}).brightness is None


def test_states_said_from_home_assistant() -> None:
    by_id = {d.entity_id: d for d in build(REGISTRIES, ACTED_DOMAINS).devices}
    assert said_state(by_id["cover.garage"], Reading("open")) == "The Garage door is open."
    assert said_state(by_id["lock.front"], Reading("locked")) == "The Front door is locked."
    temperature = Reading("21.5", {"unit_of_measurement": "°C"})
    assert said_state(by_id["sensor.lounge_temp"], temperature) == "The Lounge temperature is 21.5 degrees Celsius."
    assert (
        said_state(by_id["light.kitchen"], Reading("on", {"brightness": 102}))
        == "The Kitchen light is on, at 40 percent."
    )
    assert "has not reported" in said_state(by_id["light.hall"], Reading("unavailable"))


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"url": "ftp://ha:8123", "token_file": "/t"}, "home_assistant: url = 'ftp://ha:8123' is not allowed"),
        ({"url": "http://ha:8123/api", "token_file": "/t"}, "url = 'http://ha:8123/api' is not allowed"),
        ({"url": "http://ha:8123"}, "token_file = '' is not allowed"),
        ({"expose": ["lihgt"]}, "expose = 'lihgt' is not allowed: allowed: a domain (light, switch"),
        ({"expose": ["area:"]}, "expose = 'area:' is not allowed"),
        ({"request_timeout_s": 0}, "home_assistant.request_timeout_s = 0 is out of range"),
    ],
)
def test_bad_settings_name_key_value_and_what_is_allowed(values: dict[str, object], expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        settings_from_dict({"home_assistant": values})
    assert caught.value.exit_code == 78
    assert expected in caught.value.message


def test_settings_default_off_and_websocket_url() -> None:
    default = settings_from_dict({}).home_assistant
    assert not default.enabled and default.domains == frozenset(ACTED_DOMAINS) and default.areas == frozenset()
    cfg = settings_from_dict(
        {"home_assistant": {"url": "https://ha.lan:8123", "token_file": "/t", "expose": ["light", "area:Kitchen"]}}
    ).home_assistant
    assert cfg.websocket_url == "wss://ha.lan:8123/api/websocket"
    assert (cfg.domains, cfg.areas) == ({"light"}, {"kitchen"})


def test_token_file_errors_name_the_setting_and_path_never_the_content(tmp_path) -> None:
    missing = tmp_path / "none"
    with pytest.raises(ConfigError, match=r"home_assistant.token_file = '.*none' cannot be read"):
        read_token(str(missing))
    bad = tmp_path / "bad"
    bad.write_text("secret with spaces\n")
    with pytest.raises(ConfigError) as caught:
        read_token(str(bad))
    assert "secret" not in caught.value.message and "holds no access token" in caught.value.message
    good = tmp_path / "good"
    good.write_text("abc.def.ghi\n")
    assert read_token(str(good)) == "abc.def.ghi"
