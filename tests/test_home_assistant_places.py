"""Home Assistant's area and floor aliases as names of places, and its entities in the semantic layer.

The aliases come from the area and floor registries (:mod:`appliance.integrations.home_assistant.entities`),
and are understood by the sentence matcher's slot lists and home control's resolver alike. The semantic
layer runs on the real MiniLM, with home control (over a fake link) as the rules it hands requests to.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest

from appliance.home.assistant import HaDevice
from appliance.home.control import HomeControl
from appliance.home.request import HomeRequest
from appliance.integrations.home_assistant.entities import Registries, aliases_of, build
from appliance.settings.home_assistant import ACTED_DOMAINS
from appliance.understanding.mapping import Ports
from appliance.understanding.matcher import SentenceMatcher
from appliance.understanding.semantic import SemanticIntents
from appliance.understanding.sentences import SentenceLibrary

from .test_home import Published
from .test_home_assistant_control import ENTITIES, FAN, FakeLink

LOUNGE = ("lounge", "front room")
GROUND = ("ground floor",)
PLACED = [
    replace(d, area_aliases=LOUNGE if d.area == "Living room" else (), floor_aliases=GROUND if d.floor else ())
    for d in ENTITIES
]
"""The fake link's entities, the living room also called "lounge", downstairs also "ground floor"."""


def rig(devices: list[HaDevice] = PLACED) -> tuple[HomeControl, FakeLink, SentenceMatcher]:
    link, out = FakeLink(), Published()
    control = HomeControl([FAN], publish=out.publish, report=out.report, here="Bedroom", assistant=link)
    library = SentenceLibrary("en", with_home=True, assistant=True)
    matcher = SentenceMatcher(library, Ports(home=control, delegate=control.delegate, own_area="Bedroom"))
    control.on_devices.append(matcher.set_devices)
    control.set_remote(devices)
    return control, link, matcher


def run(intent) -> str:
    said = asyncio.run(asyncio.wait_for(intent.action(), 10)) if intent.action is not None else None
    return said or intent.speech


def test_area_and_floor_aliases_come_from_the_registries() -> None:
    registries = Registries(
        states=[
            {"entity_id": "light.lamp", "state": "off", "attributes": {"friendly_name": "Lamp"}},
            {"entity_id": "light.desk", "state": "off", "attributes": {"friendly_name": "Desk light"}},
        ],
        entities=[
            {"entity_id": "light.lamp", "area_id": "living_room"},
            {"entity_id": "light.desk", "area_id": "study"},
        ],
        areas=[
            {"area_id": "living_room", "name": "Living room", "floor_id": "down", "aliases": ["Lounge ", "", 3]},
            {"area_id": "study", "name": "Study", "floor_id": None, "aliases": "not a list"},
        ],
        floors=[{"floor_id": "down", "name": "Downstairs", "aliases": ["ground floor", "ground floor"]}],
        exposed={"light.lamp": {"conversation": True}, "light.desk": {"conversation": True}},
    )
    lamp, desk = build(registries, ACTED_DOMAINS).devices
    assert (lamp.area, lamp.area_aliases, lamp.floor, lamp.floor_aliases) == (
        "Living room",
        ("Lounge",),
        "Downstairs",
        ("ground floor",),
    )
    assert (desk.area_aliases, desk.floor_aliases) == ((), ())
    assert aliases_of(None) == () and aliases_of({"a": 1}) == ()
    # home_assistant.expose = ["area:lounge"] allows the living room by its alias, and nothing else
    assert [d.entity_id for d in build(registries, ACTED_DOMAINS, ["lounge"]).devices] == ["light.lamp"]


@pytest.mark.parametrize(
    "text",
    ["turn off the lights in the lounge", "lights off in the front room", "switch off the lounge lights"],
)
def test_an_area_alias_names_the_area(text: str) -> None:
    control, link, matcher = rig()
    intent = matcher.match(text) or control.match(text)
    assert intent is not None, text
    assert run(intent) == "I turned off the Living room lamp."
    assert link.calls == [("light.lamp", "off", None)]


def test_an_area_alias_in_home_controls_own_grammar_and_resolver() -> None:
    control, _, _ = rig()
    target = control.resolver.resolve(HomeRequest("state", area="the lounge", domain="temperature"))
    assert [d.entity_id for d in target.devices] == ["sensor.living_temp"] and target.area == "Living room"
    assert control.resolver.areas().count("Living room") == 1  # an alias is not another area
    intent = control.match("turn on the lights in the lounge")
    assert intent is not None and run(intent) == "I turned on the Living room lamp."


def test_a_floor_alias_names_the_floor() -> None:
    control, link, matcher = rig()
    intent = matcher.match("turn on the lights on the ground floor") or control.match(
        "turn on the lights on the ground floor"
    )
    assert intent is not None
    run(intent)
    assert sorted(link.calls) == [("light.kitchen", "on", None)]  # the only light downstairs


def test_slot_lists_say_an_alias_as_its_area_and_an_areas_own_name_wins() -> None:
    clash = [replace(PLACED[0], area_aliases=("living room",)), *PLACED[1:]]  # the kitchen "also" the living room
    _, _, matcher = rig(clash)
    areas = {v.text_in.text: v.value_out for v in matcher.library.slot_lists["area"].values}  # type: ignore[attr-defined]
    assert areas["lounge"] == "living room" and areas["front room"] == "living room"
    assert areas["living room"] == "living room" and areas["kitchen"] == "kitchen"
    floors = {v.text_in.text: v.value_out for v in matcher.library.slot_lists["floor"].values}  # type: ignore[attr-defined]
    assert floors == {"downstairs": "downstairs", "ground floor": "downstairs"}
    assert matcher.vocabulary.areas.count("living room") == 1


def test_aliases_follow_the_registries() -> None:
    control, _, matcher = rig(ENTITIES)
    assert control.match("turn off the lights in the lounge").name == "home.assistant"  # type: ignore[union-attr]
    control.set_remote(PLACED)  # the area registry changed: the link reloads and hands the devices on
    intent = matcher.match("turn off the lights in the lounge")
    assert intent is not None and run(intent) == "I turned off the Living room lamp."


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("semantic-cache")


@pytest.mark.parametrize(
    ("text", "call"),
    [
        ("could you get the garage door shut", ("cover.garage", "off", None)),
        ("it's dark in the kitchen", ("light.kitchen", "on", None)),
        ("it's pitch dark in the lounge", ("light.lamp", "on", None)),
        ("nobody's in the lounge, lights out", ("light.lamp", "off", None)),
    ],
)
def test_the_semantic_layer_places_home_assistants_entities_as_they_come(
    embedder, cache: Path, text: str, call: tuple[str, str, None]
) -> None:
    link, out = FakeLink(), Published()
    control = HomeControl([FAN], publish=out.publish, report=out.report, here="Bedroom", assistant=link)
    library = SentenceLibrary("en", with_home=True, assistant=True)
    matcher = SentenceMatcher(library, Ports(home=control, delegate=control.delegate, own_area="Bedroom"))
    control.on_devices.append(matcher.set_devices)
    semantic = SemanticIntents(
        embedder, rules=lambda: [matcher, control], devices=lambda: control.directory, cache_dir=cache
    )
    semantic.load()
    control.set_remote(PLACED)  # Home Assistant's entities arrive after the layer was built
    assert matcher.match(text) is None and control.match(text) is None  # only the semantic layer places it
    intent = semantic.match(text)
    assert intent is not None, text
    run(intent)
    assert link.calls == [call]
