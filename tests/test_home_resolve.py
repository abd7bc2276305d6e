"""Which devices a home request means: exact names, areas and floors, every light, this room; and the slot lists."""

from __future__ import annotations

import pytest

from appliance.core.errors import ConfigError
from appliance.home.control import HomeControl
from appliance.home.request import HERE, HomeRequest
from appliance.home.resolve import Resolver, name_key
from appliance.settings import HomeDevice, settings_from_dict

HOME = (
    HomeDevice(name="kitchen light", area="kitchen", floor="downstairs", command_topic="k"),
    HomeDevice(name="play corner lights", area="kitchen", floor="downstairs", command_topic="p"),
    HomeDevice(name="porch light", area="porch", floor="downstairs", command_topic="po"),
    HomeDevice(
        name="living room lamp", area="living room", floor="downstairs", command_topic="l", aliases=("big lamp",)
    ),
    HomeDevice(name="bedroom lamp", area="bedroom", floor="upstairs", command_topic="b", aliases=("bedside lamp",)),
    HomeDevice(name="bedroom fan", area="bedroom", floor="upstairs", kind="fan", command_topic="bf"),
    HomeDevice(name="study heater", area="study", kind="heater", command_topic="sh"),
)

DOWNSTAIRS = ["kitchen light", "living room lamp", "play corner lights", "porch light"]


def names(target) -> list[str]:
    return sorted(d.name for d in target.devices)


def test_a_device_named_exactly_is_never_ambiguous():
    resolver = Resolver(HOME)
    # "play corner lights" is also a light in the kitchen: before, the two tied and the request was asked back
    assert names(resolver.resolve(HomeRequest("off", "kitchen light"))) == ["kitchen light"]
    assert names(resolver.resolve(HomeRequest("off", "the Kitchen Lights"))) == ["kitchen light"]  # plural, case
    assert names(resolver.resolve(HomeRequest("on", "bedside lamp"))) == ["bedroom lamp"]  # an alias
    assert names(resolver.resolve(HomeRequest("on", "kitchen light", area="kitchen"))) == ["kitchen light"]


def test_the_same_exact_name_twice_is_asked_unless_the_area_says_which():
    twins = (*HOME[:2], HomeDevice(name="kitchen light", area="annex", command_topic="a"))
    resolver = Resolver(twins)
    assert len(resolver.resolve(HomeRequest("on", "kitchen light")).ambiguous) == 2
    target = resolver.resolve(HomeRequest("on", "kitchen light", area="annex"))
    assert [d.command_topic for d in target.devices] == ["a"]


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        (HomeRequest("off", area="bedroom"), ["bedroom lamp"]),  # an area alone: its lights
        (HomeRequest("off", "bedroom"), ["bedroom lamp"]),  # said as a name ("turn off the bedroom")
        (HomeRequest("off", area="study"), ["study heater"]),  # no light there: everything in it
        (HomeRequest("on", area="kitchen", domain="light"), ["kitchen light", "play corner lights"]),
        (HomeRequest("on", "lights", area="kitchen"), ["kitchen light", "play corner lights"]),
        (HomeRequest("off", area="downstairs", domain="light"), DOWNSTAIRS),
        (HomeRequest("off", "lights downstairs"), DOWNSTAIRS),
        (HomeRequest("off", "upstairs lights"), ["bedroom lamp"]),
        (HomeRequest("off", area="Bed room", domain="fan"), ["bedroom fan"]),  # a misheard area
        (HomeRequest("off", domain="fan"), ["bedroom fan"]),  # the only one of its kind
    ],
)  # fmt: skip
def test_areas_floors_and_kinds(request_, expected):
    assert names(Resolver(HOME).resolve(request_)) == expected


def test_every_light_in_the_home():
    resolver = Resolver(HOME)
    lights = ["bedroom lamp", "kitchen light", "living room lamp", "play corner lights", "porch light"]
    assert names(resolver.resolve(HomeRequest("off", domain="light", every=True))) == lights
    assert names(resolver.resolve(HomeRequest("off", "lights", area="the home", every=True))) == lights
    assert names(resolver.resolve(HomeRequest("off", "lights", area="house", every=True))) == lights
    assert names(resolver.resolve(HomeRequest("off", every=True))) == lights


def test_this_room_is_the_appliances_own_area():
    resolver = Resolver(HOME, here="bedroom")
    assert names(resolver.resolve(HomeRequest("off", area=HERE))) == ["bedroom lamp"]
    assert names(resolver.resolve(HomeRequest("off", area="this room", domain="fan"))) == ["bedroom fan"]
    # a kind said without an area: the one in this room, not a question back
    assert names(resolver.resolve(HomeRequest("on", domain="light"))) == ["bedroom lamp"]
    assert resolver.resolve(HomeRequest("on", area=HERE)).area == "bedroom"
    nowhere = Resolver(HOME).resolve(HomeRequest("off", area=HERE))
    assert (
        nowhere.devices == ()
        and nowhere.unknown == "I don't know which room I'm in. Set rooms.area in my configuration."
    )


def test_unknown_and_ambiguous_switch_nothing():
    resolver = Resolver(HOME)
    assert resolver.resolve(HomeRequest("on", "garage light")).unknown == "I don't know a device called garage light."
    assert resolver.resolve(HomeRequest("on", area="garage")).unknown == "I don't know an area called garage."
    assert resolver.resolve(HomeRequest("on", area="porch", domain="fan")).unknown == "There are no fans in the porch."
    lights = resolver.resolve(HomeRequest("on", domain="light"))  # no area, several lights, no room of its own
    assert lights.devices == () and len(lights.ambiguous) == 5


def test_name_key_compares_names_loosely_but_exactly():
    assert name_key("The Kitchen Lights") == name_key("kitchen light") == "kitchen light"
    assert name_key("glass") == "glass"  # a double s is no plural


def test_vocabulary_lists_names_with_aliases_and_areas_with_floors():
    home = HomeControl(HOME, publish=lambda *a: True, report=lambda e: None, here="hall")
    names_, areas = home.vocabulary()
    assert names_ == [
        "kitchen light", "play corner lights", "porch light", "living room lamp", "big lamp", "bedroom lamp",
        "bedside lamp", "bedroom fan", "study heater",
    ]  # fmt: skip
    assert areas == ["kitchen", "porch", "living room", "bedroom", "study", "downstairs", "upstairs", "hall"]


@pytest.mark.parametrize(
    ("device", "needle"),
    [
        ({"brightness_command_topic": "k/+/b"}, "brightness_command_topic = 'k/+/b' is not allowed"),
        ({"brightness_state_topic": "#"}, "brightness_state_topic = '#' is not allowed"),
        ({"brightness_command_topic": "k/b", "brightness_payload": "50"}, "it must contain {brightness}"),
        ({"brightness_payload": '{"brightness": {brightness}}'}, "not allowed without brightness_command_topic"),
        (
            {"brightness_command_topic": "k/b", "brightness_payload": '{"brightness": {brightness}'},
            "brightness_payload = '{\"brightness\": {brightness}' is not allowed: it renders to invalid JSON",
        ),
        ({"brightness_command_topic": "k/b", "brightness_scale": 0}, "brightness_scale = 0 is out of range"),
    ],
)
def test_bad_brightness_settings_name_the_key_and_what_is_allowed(device, needle):
    with pytest.raises(ConfigError) as err:
        settings_from_dict({"mqtt": {"devices": [{"name": "lamp", "command_topic": "k", **device}]}})
    assert needle in err.value.message and "mqtt.devices[0]" in err.value.message


def test_several_devices_named_at_once():
    resolver = Resolver(HOME)
    both = resolver.resolve(HomeRequest("on", "the kitchen light and the porch light"))
    assert names(both) == ["kitchen light", "porch light"]
    missing = resolver.resolve(HomeRequest("on", "kitchen light and garage light"))
    assert missing.devices == () and missing.unknown == "I don't know a device called garage light."


def test_a_misheard_name_prefers_the_device_of_that_name_over_area_and_kind():
    home = (*HOME, HomeDevice(name="kitchen counter lights", area="kitchen", command_topic="c"))
    # "kitchen light" is also what the counter lights are (a light in the kitchen): the name wins
    assert names(Resolver(home).resolve(HomeRequest("on", "kitchen lite"))) == ["kitchen light"]
