"""The home the tests' Home Assistant runs (the table is in tests/ha_support.py): its configuration.yaml."""

from __future__ import annotations

import json
from typing import Any

PLAIN_INTEGRATIONS = ("api", "websocket_api", "auth", "onboarding", "config", "conversation", "intent")
PLAIN_INTEGRATIONS += ("assist_pipeline", "stt", "tts", "wake_word", "ffmpeg", "timer")
"""Integrations configuration.yaml lists with no options (scripts/lib/ha_venv.sh installs what they need)."""
AREAS = {"kitchen": "Kitchen", "living_room": "Living room", "hallway": "Hallway", "garage": "Garage"}
FLOORS = {"downstairs": ("Downstairs", ("kitchen", "living_room", "hallway"))}
HOME: dict[str, dict[str, Any]] = {
    "light.kitchen_light": {"area": "kitchen", "aliases": ["ceiling light"]},
    "light.living_room_lamp": {"area": "living_room", "aliases": ["reading lamp"]},
    "light.hallway_light": {"area": "hallway", "expose": False},
    "light.porch_light": {},
    "cover.garage_door": {"area": "garage", "aliases": ["garage"]},
    "lock.front_door": {"area": "hallway"},
    "sensor.living_room_temperature": {"area": "living_room"},
    "scene.movie_time": {"area": "living_room"},
    "script.good_night": {},
}
LIGHTS = {
    "kitchen_light": "Kitchen light",
    "living_room_lamp": "Living room lamp",
    "hallway_light": "Hallway light",
    "porch_light": "Porch light",
}


def configuration(port: int) -> str:
    """configuration.yaml (written as JSON, which YAML reads): no default_config, nothing online."""
    config: dict[str, Any] = {
        "homeassistant": {
            "name": "Test home",
            "latitude": 52.37,
            "longitude": 4.89,
            "elevation": 0,
            "unit_system": "metric",
            "time_zone": "UTC",
            "currency": "EUR",
            "country": "NL",
            "language": "en",
        },
        "http": {"server_host": "127.0.0.1", "server_port": port},
        "logger": {"default": "warning"},
        **{domain: {} for domain in PLAIN_INTEGRATIONS},
        "input_boolean": {name: {"name": f"{title} power"} for name, title in LIGHTS.items()}
        | {"garage_door_open": {"name": "Garage door open"}, "front_door_locked": {"name": "Front door locked"}},
        "input_number": {
            "kitchen_light_brightness": {"name": "Kitchen light brightness", "min": 0, "max": 255, "step": 1},
            "living_room_temperature": {"name": "Living room temperature value", "min": -30, "max": 50, "step": 0.5},
        },
        "light": [{"platform": "template", "lights": _lights()}],
        "cover": [{"platform": "template", "covers": {"garage_door": _garage_door()}}],
        "lock": [_front_door()],
        "template": [{"sensor": [_temperature()]}],
        "scene": [
            {
                "id": "movie_time",
                "name": "Movie time",
                "entities": {"light.living_room_lamp": "on", "light.kitchen_light": "off"},
            }
        ],
        "script": {"good_night": {"alias": "Good night", "sequence": _good_night()}},
    }
    config["input_boolean"]["front_door_locked"]["initial"] = True
    for name in (*LIGHTS, "garage_door_open"):
        config["input_boolean"][name]["initial"] = False
    config["input_number"]["kitchen_light_brightness"]["initial"] = 255
    config["input_number"]["living_room_temperature"]["initial"] = 21.5
    return json.dumps(config, indent=1, ensure_ascii=False) + "\n"


def _switch(service: str, entity_id: str | list[str]) -> dict[str, Any]:
    return {"action": service, "target": {"entity_id": entity_id}}


def _lights() -> dict[str, Any]:
    lights = {}
    for name, title in LIGHTS.items():
        power = f"input_boolean.{name}"
        lights[name] = {
            "unique_id": name,
            "friendly_name": title,
            "value_template": f"{{{{ is_state('{power}', 'on') }}}}",
            "turn_on": [_switch("input_boolean.turn_on", power)],
            "turn_off": [_switch("input_boolean.turn_off", power)],
        }
    level = "input_number.kitchen_light_brightness"
    lights["kitchen_light"]["level_template"] = f"{{{{ states('{level}') | int }}}}"
    lights["kitchen_light"]["set_level"] = [
        {**_switch("input_number.set_value", level), "data": {"value": "{{ brightness }}"}},
        _switch("input_boolean.turn_on", "input_boolean.kitchen_light"),
    ]
    return lights


def _garage_door() -> dict[str, Any]:
    helper = "input_boolean.garage_door_open"
    return {
        "unique_id": "garage_door",
        "friendly_name": "Garage door",
        "device_class": "garage",
        "value_template": f"{{{{ 'open' if is_state('{helper}', 'on') else 'closed' }}}}",
        "open_cover": [_switch("input_boolean.turn_on", helper)],
        "close_cover": [_switch("input_boolean.turn_off", helper)],
    }


def _front_door() -> dict[str, Any]:
    helper = "input_boolean.front_door_locked"
    return {
        "platform": "template",
        "name": "Front door",
        "unique_id": "front_door",
        "value_template": f"{{{{ is_state('{helper}', 'on') }}}}",
        "lock": [_switch("input_boolean.turn_on", helper)],
        "unlock": [_switch("input_boolean.turn_off", helper)],
    }


def _temperature() -> dict[str, Any]:
    return {
        "name": "Living room temperature",
        "unique_id": "living_room_temperature",
        "unit_of_measurement": "°C",
        "device_class": "temperature",
        "state_class": "measurement",
        "state": "{{ states('input_number.living_room_temperature') | float }}",
    }


def _good_night() -> list[dict[str, Any]]:
    return [
        _switch("light.turn_off", [f"light.{name}" for name in LIGHTS]),
        _switch("cover.close_cover", "cover.garage_door"),
        _switch("lock.lock", "lock.front_door"),
    ]
