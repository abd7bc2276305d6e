"""Home control's pure parts: phrase parsing, fuzzy device resolution, the tool-call candidates and gate."""

from __future__ import annotations

import asyncio

import pytest

from appliance.core.events import IntentExecuted
from appliance.home.control import HomeControl
from appliance.home.devices import DeviceDirectory
from appliance.home.phrases import SwitchRequest, parse_switch
from appliance.home.tools import MIN_MARGIN, worth_asking
from appliance.settings import HomeDevice

DEVICES = (
    HomeDevice(name="kitchen light", area="kitchen", command_topic="home/kitchen/light/set"),
    HomeDevice(name="hall light", area="hall", command_topic="home/hall/light/set", aliases=("corridor lamp",)),
    HomeDevice(
        name="bedroom fan", kind="fan", area="bedroom", command_topic="home/fan", payload_on="1", payload_off="0"
    ),
    HomeDevice(name="TV", area="living room", kind="switch", command_topic="home/tv/power", aliases=("television",)),
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Turn on the kitchen light.", SwitchRequest("on", "kitchen light")),
        ("switch the fan off", SwitchRequest("off", "fan")),
        ("Could you turn off the light in the kitchen, please?", SwitchRequest("off", "light", area="kitchen")),
        ("turn the lights on in the hall", SwitchRequest("on", "lights", area="hall")),
        ("turn off all the lights", SwitchRequest("off", "lights", everything=True)),
        ("kitchen light on", SwitchRequest("on", "kitchen light", explicit=False)),
        ("shut off the TV", SwitchRequest("off", "tv")),
        ("On the kitchen light.", SwitchRequest("on", "kitchen light", explicit=False)),  # "turn" clipped
    ],
)
def test_parse_switch(text, expected):
    assert parse_switch(text) == expected


@pytest.mark.parametrize("text", ["What is the capital of France?", "turn it off", "switch off", "turn around", "on"])
def test_not_switch_requests(text):
    assert parse_switch(text) is None


@pytest.mark.parametrize(
    ("text", "device"),
    [
        ("turn on the kitchen light", "kitchen light"),
        ("turn on the kitchen lite", "kitchen light"),  # a speech-to-text slip
        ("switch the light in the kitchen on", "kitchen light"),
        ("switch the fan off", "bedroom fan"),
        ("turn on the corridor lamp", "hall light"),
        ("turn off the television", "TV"),
        ("turn off the living room tv", "TV"),
    ],
)
def test_resolves_names_aliases_areas_and_kinds(text, device):
    request = parse_switch(text)
    assert request is not None
    found = DeviceDirectory(DEVICES).resolve(request)
    assert [d.name for d in found.devices] == [device]


def test_ambiguous_and_unknown_switch_nothing():
    directory = DeviceDirectory(DEVICES)
    ambiguous = directory.resolve(parse_switch("turn on the light"))  # type: ignore[arg-type]
    assert ambiguous.devices == [] and {d.name for d in ambiguous.ambiguous} == {"kitchen light", "hall light"}
    unknown = directory.resolve(parse_switch("turn on the garage light"))  # type: ignore[arg-type]
    assert unknown.devices == [] and unknown.ambiguous == []


def test_all_the_lights():
    found = DeviceDirectory(DEVICES).resolve(parse_switch("turn off all the lights"))  # type: ignore[arg-type]
    assert [d.name for d in found.devices] == ["kitchen light", "hall light"]


class Published:
    def __init__(self, connected: bool = True) -> None:
        self.messages: list[tuple[str, str, bool]] = []
        self.events: list[IntentExecuted] = []
        self.connected = connected

    def publish(self, topic: str, payload: str, retain: bool) -> bool:
        if self.connected:
            self.messages.append((topic, payload, retain))
        return self.connected

    def report(self, event) -> None:
        self.events.append(event)


def run(intent) -> str:
    assert intent is not None and intent.action is not None
    return asyncio.run(intent.action())


def test_fast_path_publishes_the_configured_payload_and_says_so():
    out = Published()
    home = HomeControl(DEVICES, publish=out.publish, report=out.report)
    intent = home.match("Switch the fan off.")
    assert out.messages == []  # matching alone does nothing (speculative transcripts are safe)
    assert run(intent) == "I turned off the bedroom fan."
    assert out.messages == [("home/fan", "0", False)]
    assert out.events[0].device == "bedroom fan" and out.events[0].via == "local"


def test_unknown_device_is_said_not_guessed():
    out = Published()
    home = HomeControl(DEVICES, publish=out.publish, report=out.report)
    intent = home.match("turn on the garage light")
    assert intent is not None and intent.action is None
    assert intent.speech == "I don't know a device called garage light."
    which = home.match("turn on the light")
    assert which is not None and which.speech == "Which one do you mean: the kitchen light or the hall light?"
    assert home.match("the party is on") is None  # bare "… on" that names no device: conversation
    assert home.match("on the other hand, I like tea") is None
    assert out.messages == []


def test_without_a_broker_it_says_nothing_was_switched():
    out = Published(connected=False)
    home = HomeControl(DEVICES, publish=out.publish, report=out.report)
    said = run(home.match("turn on the kitchen light"))
    assert said == "I can't reach the home network right now, so I did not switch the kitchen light."
    assert out.events == []


def test_the_model_is_only_asked_about_mentioned_devices_with_a_wish():
    directory = DeviceDirectory(DEVICES)

    def gate(text: str) -> bool:
        return worth_asking(text, directory.mentioned(text))

    assert gate("It's too dark in the kitchen")
    assert gate("the bedroom is freezing")
    assert not gate("how old is the kitchen light")  # a question
    assert not gate("the kitchen is a mess")  # no wish for a change
    assert not gate("it is too dark in here")  # no configured device or area
    assert not gate("what's the best way to light the kitchen stove")  # a question, contracted
    assert not gate("my mum said the kitchen lights at her place need changing")  # someone else's words
    assert not gate("so yesterday we sat in the kitchen and talked about the lights and the holidays for hours")
    assert [d.name for d in directory.mentioned("I need some light in the kitchen")] == ["kitchen light"]


class ScriptedModel:
    """Scores each candidate sentence from a table (orchestration only)."""

    def __init__(self, scores: dict[str, float]) -> None:
        self.scores = scores
        self.asked: list[list[str]] = []

    def score_continuations(self, messages, continuations) -> list[float]:
        assert messages[-1]["content"] == "it's too dark in the kitchen"  # punctuation normalised away
        self.asked.append(continuations)
        return [self.scores.get(c, -20.0) for c in continuations]


def test_the_model_picks_among_allowed_calls_only_and_acts_when_clearly_ahead():
    out = Published()
    clear = ScriptedModel(
        {
            "The user wants the kitchen light switched on.": -2.0,
            "The user wants the kitchen light switched off.": -2.0 - MIN_MARGIN - 0.1,
        }
    )
    home = HomeControl(DEVICES, publish=out.publish, report=out.report, model=clear)
    intent = home.match("It's too dark in the kitchen.")
    assert intent is not None and intent.name == "home_llm"
    assert run(intent) == "I turned on the kitchen light."
    assert out.messages == [("home/kitchen/light/set", "ON", False)] and out.events[0].via == "llm"
    assert clear.asked == [  # only the device the request mentions, on and off: nothing else can come out
        ["The user wants the kitchen light switched on.", "The user wants the kitchen light switched off."]
    ]

    out = Published()
    close = ScriptedModel(
        {
            "The user wants the kitchen light switched on.": -2.0,
            "The user wants the kitchen light switched off.": -2.0 - MIN_MARGIN + 0.1,
        }
    )
    home = HomeControl(DEVICES, publish=out.publish, report=out.report, model=close)
    said = run(home.match("It's too dark in the kitchen."))
    assert said == "Sorry, I'm not sure whether you want the kitchen light on or off." and out.messages == []
