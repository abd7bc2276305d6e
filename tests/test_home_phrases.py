"""The fast path's grammar beyond "turn on X": floors said last, STT slips, state questions, brightness."""

from __future__ import annotations

import pytest

from appliance.home.dimming import BrightnessRequest, parse_brightness
from appliance.home.phrases import StateQuestion, SwitchRequest, parse_state, parse_switch
from appliance.home.request import HERE


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("lights off downstairs", SwitchRequest("off", "lights downstairs", explicit=False)),
        ("lights off in the kitchen", SwitchRequest("off", "lights", area="kitchen", explicit=False)),
        ("Turn of the kitchen light.", SwitchRequest("off", "kitchen light")),  # Whisper's "of"
        ("turn off all the lights in the home", SwitchRequest("off", "lights", area="home", everything=True)),
        ("turn off the lights in here", SwitchRequest("off", "lights", area="here")),
        ("would you mind switching on the hall light", SwitchRequest("on", "hall light")),
        ("kill the landing light", SwitchRequest("off", "landing light")),
        ("open the light in the kitchen", SwitchRequest("on", "light", area="kitchen")),  # as many people say it
        ("close the bedroom lamp", SwitchRequest("off", "bedroom lamp")),
        ("make the lights go off please", SwitchRequest("off", "lights", explicit=False)),
        (
            "I'm going to bed, turn off the lights in the living room",
            SwitchRequest("off", "lights", area="living room", explicit=False),
        ),
    ],
)
def test_more_switch_phrasings(text, expected):
    assert parse_switch(text) == expected


def test_statements_and_questions_are_not_switch_requests():
    assert parse_switch("the lights are on in the kitchen") is None
    assert parse_switch("I'm off to bed now") is None
    assert parse_switch("how do I turn off the alarm") is None
    assert parse_switch("open the door") is None  # "open" means on only for a light


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Is the porch light on?", StateQuestion("porch light")),
        ("is the kitchen light still on", StateQuestion("kitchen light")),
        ("are the lights off", StateQuestion("lights")),
        ("are any lights on in the kitchen", StateQuestion("lights", area="kitchen", everything=True)),
        ("tell me is the fan switched on", StateQuestion("fan")),
        ("can you check if the porch light is on", StateQuestion("porch light")),
        ("check whether the lights are on in the kitchen", StateQuestion("lights", area="kitchen")),
    ],
)
def test_state_questions(text, expected):
    assert parse_state(text) == expected


@pytest.mark.parametrize("text", ["is the meeting on tuesday", "is it on", "what is on tv", "turn on the light"])
def test_not_state_questions(text):
    assert parse_state(text) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Dim the kitchen to thirty percent.", BrightnessRequest("kitchen", level=30)),
        ("set the kitchen light to 50%", BrightnessRequest("kitchen light", level=50)),
        ("turn on the kitchen light to 50 percent", BrightnessRequest("kitchen light", level=50)),
        ("kitchen lights to full brightness", BrightnessRequest("kitchen lights", level=100)),
        ("Brighter in here.", BrightnessRequest("", area=HERE, step=20)),
        ("it is too bright in here", BrightnessRequest("", area=HERE, step=-20)),
        ("dim the lights", BrightnessRequest("lights", step=-20)),
        ("turn the lights down a bit", BrightnessRequest("lights", step=-20)),
        ("lower the bedroom lamp", BrightnessRequest("bedroom lamp", step=-20)),
        ("turn the bedroom lamp up by 10 percent", BrightnessRequest("bedroom lamp", step=10)),
        ("make the living room brighter", BrightnessRequest("living room", step=20)),
        ("dim the lights in the kitchen to 10 percent", BrightnessRequest("lights", area="kitchen", level=10)),
    ],
)
def test_brightness_requests(text, expected):
    assert parse_brightness(text) == expected


@pytest.mark.parametrize(
    "text", ["turn up the volume", "turn it up", "set a timer for ten minutes", "it's too dark in the kitchen"]
)
def test_not_brightness_requests(text):
    assert parse_brightness(text) is None  # "too dark" alone is the tool path's: it may mean "switch it on"
