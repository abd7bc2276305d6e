"""Home control over Home Assistant's entities (unit, with a fake link): sentences to service calls, honest
claims, state answers, the conversation fallback, exposure and an unreachable Home Assistant."""

from __future__ import annotations

import asyncio

import pytest

from appliance.home.assistant import UNREACHABLE, HaDevice, HomeAssistantError, Reading
from appliance.home.control import HomeControl
from appliance.home.remote import service_data, service_name
from appliance.integrations.home_assistant.entities import Home, withheld
from appliance.settings import HomeDevice
from appliance.understanding.mapping import Ports
from appliance.understanding.matcher import SentenceMatcher
from appliance.understanding.sentences import SentenceLibrary

from .test_home import Published

KITCHEN = HaDevice(
    name="Kitchen light",
    area="Kitchen",
    floor="Downstairs",
    kind="light",
    entity_id="light.kitchen",
    domain="light",
    can_dim=True,
)
LAMP = HaDevice(
    name="Living room lamp",
    aliases=("reading lamp",),
    area="Living room",
    kind="light",
    entity_id="light.lamp",
    domain="light",
)
GARAGE = HaDevice(
    name="Garage door", area="Garage", kind="cover", entity_id="cover.garage", domain="cover", device_class="garage"
)
FRONT = HaDevice(name="Front door", area="Hallway", kind="lock", entity_id="lock.front", domain="lock")
TEMPERATURE = HaDevice(
    name="Living room temperature",
    area="Living room",
    kind="temperature",
    entity_id="sensor.living_temp",
    domain="sensor",
    device_class="temperature",
)
MOVIE = HaDevice(name="Movie time", area="Living room", kind="scene", entity_id="scene.movie", domain="scene")
NIGHT = HaDevice(name="Good night", kind="script", entity_id="script.night", domain="script")
THERMOSTAT = HaDevice(name="Thermostat", area="Living room", kind="climate", entity_id="climate.t", domain="climate")
ENTITIES = [KITCHEN, LAMP, GARAGE, FRONT, TEMPERATURE, MOVIE, NIGHT, THERMOSTAT]
FAN = HomeDevice(name="bedroom fan", area="bedroom", kind="fan", command_topic="fan/set")


class FakeLink:
    """The Assistant port: records calls; refuses, or is unreachable, when told."""

    def __init__(self) -> None:
        self.connected = True
        self.calls: list[tuple[str, str, int | None]] = []
        self.asked: list[str] = []
        self.refuse = ""
        self.readings = {
            "light.kitchen": Reading("on", {"brightness": 128}),
            "light.lamp": Reading("off"),
            "cover.garage": Reading("closed"),
            "lock.front": Reading("locked"),
            "sensor.living_temp": Reading("21.5", {"unit_of_measurement": "°C"}),
        }
        self.home = Home(tuple(ENTITIES), ("Hallway light",))

    def reading(self, entity_id: str) -> Reading | None:
        return self.readings.get(entity_id)

    async def act(self, device: HaDevice, action: str, brightness: int | None = None) -> None:
        if not self.connected:
            raise HomeAssistantError("ha-unreachable", "not connected")
        if self.refuse:
            raise HomeAssistantError("ha-refused", self.refuse)
        self.calls.append((device.entity_id, action, brightness))

    async def converse(self, text: str) -> str:
        self.asked.append(text)
        return "Started the vacuum."

    def withheld(self, text: str) -> str:
        return withheld(self.home, text)


def setup(connected: bool = True) -> tuple[HomeControl, FakeLink, SentenceMatcher, Published]:
    link, out = FakeLink(), Published()
    link.connected = connected
    control = HomeControl([FAN], publish=out.publish, report=out.report, here="Living room", assistant=link)
    library = SentenceLibrary("en", with_home=True, assistant=True)
    matcher = SentenceMatcher(library, Ports(home=control, delegate=control.delegate, own_area="Living room"))
    control.on_devices.append(matcher.set_devices)
    control.set_remote(ENTITIES)
    return control, link, matcher, out


def answer(control: HomeControl, matcher: SentenceMatcher, text: str) -> tuple[str, str]:
    """(intent name, what is said): the sentences first, then home control's own grammar, as the pipeline does."""
    intent = matcher.match(text) or control.match(text)
    assert intent is not None, text
    said = asyncio.run(intent.action()) if intent.action is not None else None
    return intent.name, said or intent.speech


@pytest.mark.parametrize(
    ("text", "call", "said"),
    [
        ("turn on the kitchen light", ("light.kitchen", "on", None), "I turned on the Kitchen light."),
        ("switch off the reading lamp", ("light.lamp", "off", None), "I turned off the Living room lamp."),
        ("open the garage door", ("cover.garage", "on", None), "I opened the Garage door."),
        ("close the garage door", ("cover.garage", "off", None), "I closed the Garage door."),
        ("lock the front door", ("lock.front", "on", None), "I locked the Front door."),
        ("unlock the front door", ("lock.front", "off", None), "I unlocked the Front door."),
        ("activate movie time", ("scene.movie", "on", None), "I activated Movie time."),
        ("turn on movie time", ("scene.movie", "on", None), "I activated Movie time."),
        ("run good night", ("script.night", "on", None), "I started Good night."),
        (
            "set the kitchen light to 30 percent",
            ("light.kitchen", "brightness", 30),
            "I set the Kitchen light to 30 percent.",
        ),
        (
            "make the kitchen light brighter",
            ("light.kitchen", "brightness", 70),
            "I set the Kitchen light to 70 percent.",
        ),
    ],
)
def test_requests_become_confirmed_service_calls(text: str, call: tuple[str, str, int | None], said: str) -> None:
    control, link, matcher, out = setup()
    name, reply = answer(control, matcher, text)
    assert link.calls == [call], (text, name)
    assert reply == said
    assert out.events[-1].topic == call[0] and out.events[-1].payload.startswith(call[0].split(".")[0] + ".")


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("is the garage door open", "The Garage door is closed."),
        ("is the front door locked?", "The Front door is locked."),
        ("what's the temperature in the living room", "The Living room temperature is 21.5 degrees Celsius."),
        ("is the kitchen light on?", "The Kitchen light is on, at 50 percent."),
    ],
)
def test_state_questions_are_answered_from_home_assistants_states(text: str, said: str) -> None:
    control, link, matcher, _ = setup()
    name, reply = answer(control, matcher, text)
    assert (name, reply) == ("home.state", said)
    assert link.calls == [] and link.asked == []


def test_a_scene_is_never_turned_off() -> None:
    control, link, matcher, _ = setup()
    _, reply = answer(control, matcher, "turn off movie time")
    assert reply == "Movie time can only be activated, not turned off." and link.calls == []


def test_a_refused_call_is_never_claimed() -> None:
    control, link, matcher, _ = setup()
    link.refuse = "Entity is unavailable"
    _, reply = answer(control, matcher, "turn on the kitchen light")
    assert reply == "Home Assistant did not do it for the Kitchen light: Entity is unavailable"


def test_unreachable_home_assistant_is_said_and_local_devices_still_work() -> None:
    control, link, matcher, out = setup(connected=False)
    _, reply = answer(control, matcher, "turn off the kitchen light")
    assert reply == UNREACHABLE and link.calls == []
    _, reply = answer(control, matcher, "turn off the bedroom fan")
    assert reply == "I turned off the bedroom fan." and out.messages == [("fan/set", "OFF", False)]
    name, reply = answer(control, matcher, "turn on the garden sprinkler")
    assert (name, reply) == ("home.assistant", UNREACHABLE)


def test_what_the_appliance_cannot_place_goes_to_home_assistants_agent() -> None:
    control, link, matcher, _ = setup()
    for text in (
        "turn on the garden sprinkler",
        "set the temperature in the living room to 21 degrees",
        "turn on the thermostat",
    ):
        name, reply = answer(control, matcher, text)
        assert (name, reply) == ("home.assistant", "Started the vacuum."), text
    assert len(link.asked) == 3 and link.calls == []


def test_an_entity_not_exposed_is_refused_not_passed_on() -> None:
    control, link, matcher, _ = setup()
    name, reply = answer(control, matcher, "turn on the hallway light")
    assert (name, reply) == ("home.unknown", "I'm not allowed to control the Hallway light.")
    assert link.calls == [] and link.asked == []


def test_an_area_never_unlocks_or_opens_by_accident() -> None:
    control, link, matcher, _ = setup()
    answer(control, matcher, "turn off everything in the hallway")  # only the lock is there: nothing switched
    assert link.calls == []


def test_home_assistants_entities_fill_the_slot_lists() -> None:
    control, _, matcher, _ = setup()
    names = {d.name for d in matcher.vocabulary.devices}
    assert {"kitchen light", "garage door", "movie time", "bedroom fan"} <= names
    assert {d.domain for d in matcher.vocabulary.devices if d.name == "garage door"} == {"cover"}
    assert "downstairs" in matcher.vocabulary.floors
    control.set_remote([KITCHEN])
    assert {d.name for d in matcher.vocabulary.devices} == {"kitchen light", "bedroom fan"}


def test_service_calls() -> None:
    assert (service_name("cover", "on"), service_name("cover", "off")) == ("open_cover", "close_cover")
    assert (service_name("lock", "on"), service_name("lock", "off")) == ("lock", "unlock")
    assert (service_name("scene", "on"), service_name("light", "brightness", 0)) == ("turn_on", "turn_off")
    assert service_data(KITCHEN, "brightness", 130) == {"brightness_pct": 100}
    assert service_data(KITCHEN, "on") == {}


class PrefersKitchenOn:
    """A scoring model that clearly prefers switching the kitchen light on."""

    def score_continuations(self, messages, continuations) -> list[float]:
        return [5.0 if c.endswith("Kitchen light switched on.") else 0.0 for c in continuations]


def test_the_llm_tool_path_acts_through_home_assistant_and_never_on_a_lock() -> None:
    link, out = FakeLink(), Published()
    control = HomeControl([FAN], publish=out.publish, report=out.report, model=PrefersKitchenOn(), assistant=link)
    control.set_remote(ENTITIES)
    intent = control.match("It's too dark in the kitchen.")
    assert intent is not None and intent.name == "home_llm" and intent.data == {"candidates": ["Kitchen light"]}
    assert asyncio.run(intent.action()) == "I turned on the Kitchen light."
    assert link.calls == [("light.kitchen", "on", None)]
    assert (
        control.match("It's too cold in the hallway, we need it shut.") is None
    )  # the front door lock is no candidate
