"""Home control's intents (unit, with a fake publisher): names and data, brightness, state answers, honest claims."""

from __future__ import annotations

import pytest

from appliance.home.control import HomeControl
from appliance.home.request import HERE, STEP, HomeRequest
from appliance.settings import HomeDevice

from .test_home import Published, run

ZIGBEE = HomeDevice(
    name="kitchen light",
    area="kitchen",
    command_topic="z2m/kitchen/set",
    payload_on='{"state": "ON"}',
    payload_off='{"state": "OFF"}',
    state_topic="z2m/kitchen",
    brightness_command_topic="z2m/kitchen/set",
    brightness_payload='{"brightness": {brightness}}',
    brightness_scale=254,
    brightness_state_topic="z2m/kitchen",
)
HOME = (
    ZIGBEE,
    HomeDevice(name="play corner lights", area="kitchen", command_topic="play/set"),
    HomeDevice(name="porch light", area="porch", command_topic="porch/set", state_topic="porch/state"),
    HomeDevice(
        name="living room lamp",
        area="living room",
        command_topic="living/set",
        brightness_command_topic="living/brightness/set",
        brightness_state_topic="living/brightness",
    ),
    HomeDevice(name="bedroom fan", area="bedroom", kind="fan", command_topic="fan/set"),
)

PLAY_CORNER_CANNOT = "The play corner lights can't be dimmed, only switched on or off."


def home(out: Published, here: str = "living room") -> HomeControl:
    return HomeControl(HOME, publish=out.publish, report=out.report, here=here)


def test_intent_names_and_data_follow_the_contract():
    out = Published()
    control = home(out)
    off = control.handle(HomeRequest("off", "kitchen light"), "turn off the kitchen light")
    assert off is not None and off.name == "home.off"
    assert off.data == {"devices": "kitchen light", "area": ""}
    on = control.handle(HomeRequest("on", area="kitchen", domain="light"), "turn on the lights in the kitchen")
    assert on is not None and on.name == "home.on"
    assert on.data == {"devices": "kitchen light|play corner lights", "area": "kitchen"}
    dim = control.handle(HomeRequest("brightness", area="kitchen", brightness=30), "dim the kitchen to 30 percent")
    assert dim is not None and dim.name == "home.brightness"
    assert dim.data == {"devices": "kitchen light|play corner lights", "brightness": 30}
    up = control.handle(HomeRequest("brightness", area=HERE, brightness_step=STEP), "brighter in here")
    assert up is not None and up.data == {"devices": "living room lamp", "step": 20}
    state = control.handle(HomeRequest("state", "porch light"), "is the porch light on?")
    assert state is not None and state.name == "home.state" and state.data == {"devices": "porch light"}
    unknown = control.handle(HomeRequest("on", "garage light"), "turn on the garage light")
    assert unknown is not None and unknown.name == "home.unknown" and unknown.action is None
    which = control.handle(HomeRequest("on", "light"), "turn on the light")
    assert which is not None and which.name == "home.on"  # "the light" in this room: the living room lamp
    assert which.data["devices"] == "living room lamp"
    asked = home(out, here="").handle(HomeRequest("on", "light"), "turn on the light")
    assert asked is not None and asked.name == "home.ambiguous" and asked.action is None
    assert out.messages == []  # resolving publishes nothing: only the committed action does


def test_no_devices_no_intent():
    out = Published()
    assert HomeControl((), publish=out.publish, report=out.report).handle(HomeRequest("on", "lamp"), "") is None


def test_absolute_brightness_renders_the_template_on_the_device_scale():
    out = Published()
    intent = home(out).handle(HomeRequest("brightness", "kitchen light", brightness=30), "dim the kitchen to thirty")
    assert run(intent) == "I set the kitchen light to 30 percent."
    assert out.messages == [("z2m/kitchen/set", '{"brightness": 76}', False)]  # 30 % of 254
    assert out.events[0].intent == "brightness" and out.events[0].action == "30"


def test_brightness_zero_switches_off_and_levels_are_clamped():
    out = Published()
    control = home(out)
    assert run(control.handle(HomeRequest("brightness", "living room lamp", brightness=0), "")) == (
        "I turned off the living room lamp."
    )
    assert run(control.handle(HomeRequest("brightness", "living room lamp", brightness=150), "")) == (
        "I set the living room lamp to 100 percent."
    )
    assert out.messages == [("living/set", "OFF", False), ("living/brightness/set", "100", False)]


def test_relative_brightness_starts_from_the_reported_level():
    out = Published()
    control = home(out)
    control.states.receive("z2m/kitchen", b'{"state": "ON", "brightness": 127, "linkquality": 90}')
    brighter = control.handle(HomeRequest("brightness", "kitchen light", brightness_step=20), "brighter")
    assert run(brighter) == "I turned the kitchen light up to 70 percent."
    assert out.messages == [("z2m/kitchen/set", '{"brightness": 178}', False)]
    control.states.receive("living/brightness", b"15")
    dimmer = control.handle(HomeRequest("brightness", area=HERE, brightness_step=-20), "dimmer in here")
    assert run(dimmer) == "I turned the living room lamp down to 1 percent."  # dimmest, not off


def test_relative_brightness_without_a_known_level_is_refused_politely():
    out = Published()
    control = home(out)
    said = run(control.handle(HomeRequest("brightness", "living room lamp", brightness_step=20), "brighter"))
    assert said == "I don't know how bright the living room lamp is now. Say a level, like 50 percent."
    assert out.messages == []
    control.states.receive("z2m/kitchen", b'{"state": "OFF"}')  # known to be off: brighter starts from 0
    said = run(control.handle(HomeRequest("brightness", "kitchen light", brightness_step=20), "brighter"))
    assert said == "I turned the kitchen light up to 20 percent."


def test_a_device_without_brightness_is_not_dimmed():
    out = Published()
    control = home(out)
    intent = control.handle(HomeRequest("brightness", "porch light", brightness=30), "dim the porch light")
    assert intent is not None and intent.action is None
    assert intent.speech == "The porch light can't be dimmed, only switched on or off."
    mixed = control.handle(HomeRequest("brightness", area="kitchen", brightness=50), "kitchen to fifty percent")
    assert run(mixed) == f"I set the kitchen light to 50 percent. {PLAY_CORNER_CANNOT}"
    assert out.messages == [("z2m/kitchen/set", '{"brightness": 127}', False)]
    missing = control.handle(HomeRequest("brightness", "kitchen light"), "set the kitchen light")
    assert missing is not None and missing.action is None and missing.data["error"] == "brightness"


@pytest.mark.parametrize(
    ("topic", "payload", "said"),
    [
        ("porch/state", b"ON", "The porch light is on."),
        ("porch/state", b"OFF", "The porch light is off."),
        ("porch/state", b'{"state": "ON"}', "The porch light is on."),
        ("porch/state", b"", "I don't know whether the porch light is on: it has not reported its state yet."),
        ("porch/state", b"garbage", "I don't know whether the porch light is on: it has not reported its state yet."),
    ],
)
def test_state_answers_come_from_the_state_topic(topic, payload, said):
    control = home(Published())
    control.states.receive("porch/state", b"ON")
    control.states.receive(topic, payload)
    intent = control.handle(HomeRequest("state", "porch light"), "is the porch light on?")
    assert intent is not None and intent.pure  # it only reads: safe to answer speculatively
    assert run(intent) == said


def test_state_answers_with_brightness_several_devices_and_no_state_topic():
    out = Published()
    control = home(out)
    control.states.receive("z2m/kitchen", b'{"state": "ON", "brightness": 254}')
    assert run(control.match("is the kitchen light on?")) == "The kitchen light is on, at 100 percent."
    control.states.receive("porch/state", b"OFF")
    several = control.handle(HomeRequest("state", "lights", area="kitchen"), "are the kitchen lights on")
    assert run(several) == "The kitchen light is on. I don't know about the play corner lights."
    never = control.handle(HomeRequest("state", "bedroom fan"), "is the fan on")
    assert run(never) == "I don't know whether the bedroom fan is on: it does not report its state."
    run(control.handle(HomeRequest("on", "bedroom fan"), "turn on the fan"))
    assert run(never) == "The bedroom fan should be on: I switched it on, but it does not report its state."


def test_actions_are_claimed_only_once_published():
    out = Published(connected=False)
    control = home(out)
    said = run(control.handle(HomeRequest("brightness", "kitchen light", brightness=40), "kitchen light to 40"))
    assert said == "I can't reach the home network right now, so I did not change the kitchen light."
    said = run(control.handle(HomeRequest("off", area="kitchen"), "turn off the kitchen"))
    assert said == (
        "I can't reach the home network right now, so I did not switch the kitchen light or the play corner lights."
    )
    assert out.events == [] and control.states.power(ZIGBEE) is None  # nothing assumed either

    class Partly(Published):
        def publish(self, topic: str, payload: str, retain: bool) -> bool:
            return topic != "play/set" and super().publish(topic, payload, retain)

    partly = Partly()
    said = run(home(partly).handle(HomeRequest("off", area="kitchen"), "turn off the kitchen"))
    assert said == "I turned off the kitchen light. I could not reach the play corner lights."
    assert [e.device for e in partly.events] == ["kitchen light"]


def test_the_fast_path_follows_the_same_rules():
    out = Published()
    control = HomeControl(HOME, publish=out.publish, report=out.report)
    control.states.receive("living/brightness", b"40")
    cases = [
        ("Turn off the kitchen light.", "I turned off the kitchen light."),
        ("turn off all the lights in the home", "I turned off 4 lights."),
        ("lights off in the kitchen", "I turned off the kitchen light and the play corner lights."),
        ("Dim the kitchen to thirty percent.", f"I set the kitchen light to 30 percent. {PLAY_CORNER_CANNOT}"),
        ("make the living room lamp brighter", "I turned the living room lamp up to 20 percent."),  # off since "all"
        ("Is the porch light on?", "I don't know whether the porch light is on: it has not reported its state yet."),
    ]  # fmt: skip
    for text, said in cases:
        intent = control.match(text)
        assert intent is not None and intent.name.startswith("home."), text
        assert run(intent) == said, text
    assert control.match("is the party on tonight?") is None  # a question about no device: conversation
    bare = control.match("turn on")
    assert bare is not None and bare.name == "home.on" and bare.action is None and bare.data == {"error": "devices"}
    assert bare.speech == "What should I turn on?"
    assert control.match("dim sum is nice") is None
