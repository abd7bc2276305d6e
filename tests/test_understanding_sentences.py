"""The sentence matcher: each Home Assistant intent as the appliance's own, slot lists, language, bad input."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from appliance.core.errors import ConfigError
from appliance.home.control import HomeControl
from appliance.home.request import HomeRequest
from appliance.settings import HomeDevice, settings_from_dict
from appliance.skills.engine import Skills
from appliance.skills.settings import SkillsSettings
from appliance.skills.store import FILENAME, SkillStore
from appliance.skills.voice import SkillContext
from appliance.understanding import mapping
from appliance.understanding.feature import UnderstandingFeature
from appliance.understanding.mapping import NO_ROOMS, Ports
from appliance.understanding.matcher import SentenceMatcher
from appliance.understanding.sentences import SentenceLibrary, languages
from appliance.voice.reply import Intent

from .test_skills_intents import FakeDevice
from .test_skills_schedule import LONDON, NOW

DEVICES = (
    HomeDevice(name="hall lamp", area="hallway", command_topic="home/hall/lamp"),
    HomeDevice(name="stove light", aliases=("cooker light",), area="kitchen", command_topic="home/kitchen/stove"),
    HomeDevice(name="ceiling light", area="kitchen", command_topic="home/kitchen/ceiling"),
    HomeDevice(name="attic fan", kind="fan", area="attic", command_topic="home/attic/fan"),
    HomeDevice(name="amp", kind="switch", area="den", command_topic="home/den/amp"),
)


class Rig:
    def __init__(self, path: Path) -> None:
        self.clock = [NOW]
        self.skills = Skills(SkillStore(path / FILENAME), tz=LONDON, now=lambda: self.clock[0]).open()
        self.device = FakeDevice()
        self.context = SkillContext(self.skills, SkillsSettings(), self.device)
        self.published: list[tuple[str, str]] = []
        self.home = HomeControl(DEVICES, publish=self._publish, report=lambda event: None)
        self.told: list[tuple[str, str]] = []
        self.ports = Ports(skills=self.context, home=self.home)
        self.matcher = SentenceMatcher(SentenceLibrary("en"), self.ports, devices=DEVICES)

    def _publish(self, topic: str, payload: str, retain: bool) -> bool:
        self.published.append((topic, payload))
        return True

    async def tell(self, text: str, area: str) -> str:
        self.told.append((text, area))
        return "Okay, I told everyone."

    def match(self, text: str) -> Intent:
        intent = self.matcher.match(text)
        assert intent is not None, text
        return intent

    def say(self, text: str) -> str:
        intent = self.match(text)
        spoken = asyncio.run(asyncio.wait_for(intent.action(), 10)) if intent.action else None
        return spoken or intent.speech


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    made = Rig(tmp_path)
    yield made
    made.skills.close()


SKILL_REQUESTS: list[tuple[str, str, dict[str, Any]]] = [
    ("Please start a timer for twelve minutes", "timer.start", {"duration_s": 720, "name": ""}),
    ("set a 90 second timer", "timer.start", {"duration_s": 90}),
    ("set a timer for 1 hour and 20 minutes", "timer.start", {"duration_s": 4800}),
    ("timer for half an hour", "timer.start", {"duration_s": 1800}),
    ("create a timer for 3 and a half minutes", "timer.start", {"duration_s": 210}),
    ("start a timer for an hour and a half", "timer.start", {"duration_s": 5400}),
    ("set a 2 and a half minute timer", "timer.start", {"duration_s": 150}),
    ("could you time ten minutes for me", "timer.start", {"duration_s": 600}),
    ("set a timer for 8 minutes called the noodles", "timer.start", {"duration_s": 480, "name": "noodles"}),
    ("cancel all of my timers", "timer.cancel", {"every": True, "name": ""}),
    ("stop the timer", "timer.cancel", {"every": False, "name": ""}),
    ("add 3 minutes to my timer", "timer.add", {"duration_s": 180, "name": ""}),
    ("increase the timer by 45 seconds", "timer.add", {"duration_s": 45}),
    ("take 4 minutes off the timer", "timer.remove", {"duration_s": 240, "name": ""}),
    ("decrease my timer by one minute", "timer.remove", {"duration_s": 60}),
    ("pause my timer", "timer.pause", {"name": ""}),
    ("resume the timer", "timer.resume", {"name": ""}),
    ("how long is left on my timer", "timer.remaining", {"name": ""}),
    ("what's the time", "clock.time", {}),
    ("tell me today's date", "clock.date", {}),
    ("which day of the week is it", "clock.weekday", {}),
    ("what day are we on today", "clock.weekday", {}),
    ("set the volume to 35 percent", "device.volume_set", {"level": 35}),
    ("change the volume to 6", "device.volume_set", {"level": 60}),
    ("turn the volume up", "device.volume_up", {"delta": 10}),
    ("decrease the volume by 25 percent", "device.volume_down", {"delta": 25}),
    ("pause the music", "media.pause", {}),
    ("stop", "device.stop", {}),
    ("resume the music", "media.resume", {}),
    ("skip this song", "media.next", {}),
    ("go back to the previous track", "media.previous", {}),
    ("never mind", "device.cancel", {}),
    ("add oat milk and rice to the shopping list", "list.add", {"list": "shopping", "items": ["oat milk", "rice"]}),
    ("put call the bank on my to do list", "list.add", {"list": "to-do", "items": ["call the bank"]}),
    ("add flour to my groceries list", "list.add", {"list": "shopping", "items": ["flour"]}),
    ("remove rice from the shopping list", "list.remove", {"list": "shopping", "items": ["rice"]}),
    ("check off call the bank from my to do list", "list.remove", {"list": "to-do", "items": ["call the bank"]}),
    ("what's on the shopping list", "list.show", {"list": "shopping"}),
    ("read me my to do list", "list.show", {"list": "to-do"}),
]


@pytest.mark.parametrize(("text", "name", "values"), SKILL_REQUESTS)
def test_each_sentence_becomes_the_appliance_intent_with_exact_values(
    rig: Rig, text: str, name: str, values: dict[str, Any]
) -> None:
    intent = rig.match(text)
    assert intent.name == name
    assert {key: intent.data.get(key) for key in values} == values


HOME_REQUESTS: list[tuple[str, HomeRequest]] = [
    ("turn on the hall lamp", HomeRequest("on", name="hall lamp")),
    ("switch the cooker light off", HomeRequest("off", name="stove light")),
    ("turn off the lights in the kitchen", HomeRequest("off", area="kitchen", domain="light")),
    ("turn off all the lights", HomeRequest("off", domain="light", every=True)),
    ("switch on the attic fan", HomeRequest("on", name="attic fan")),
    ("set the hall lamp to 40 percent", HomeRequest("brightness", name="hall lamp", brightness=40)),
    ("is the amp on", HomeRequest("state", name="amp")),
]


@pytest.mark.parametrize(("text", "request_"), HOME_REQUESTS)
def test_home_sentences_become_home_requests(
    rig: Rig, monkeypatch: pytest.MonkeyPatch, text: str, request_: HomeRequest
) -> None:
    seen: list[tuple[HomeRequest, str]] = []
    monkeypatch.setattr(rig.home, "handle", lambda request, said: seen.append((request, said)) or Intent("x", ""))
    rig.match(text)
    assert [request for request, _ in seen] == [request_]


def test_a_home_sentence_is_carried_out_by_home_control(rig: Rig) -> None:
    intent = rig.match("Turn off the stove light.")
    assert intent.name == "home.off" and intent.data["devices"] == "stove light"
    assert rig.published == []  # nothing happens until the request is committed
    rig.say("turn off the stove light")
    assert rig.published == [("home/kitchen/stove", "OFF")]


def test_actions_are_the_skills_own(rig: Rig) -> None:
    assert rig.say("set a timer for 5 minutes named eggs") == "Eggs timer set for 5 minutes."
    assert rig.say("add 2 minutes to the eggs timer") == "Added 2 minutes to the eggs timer; 7 minutes left."
    assert rig.say("take one minute off the eggs timer") == "Took 1 minute off the eggs timer; 6 minutes left."
    assert rig.say("add oat milk and rice to my shopping list") == "Added oat milk and rice to your shopping list."
    assert rig.say("set the volume to 20") == "Volume 20 percent." and rig.device.level == 20
    assert rig.say("which day is it") == "It's Tuesday."
    assert rig.say("pause") == "" and rig.device.stopped == 1
    assert rig.say("cancel the eggs timer") == "Cancelled the eggs timer."


def test_timer_names_follow_the_running_timers(rig: Rig) -> None:
    assert rig.matcher.match("pause the soup timer") is None  # no such timer: left to the skills' own rules
    rig.skills.start_timer(300, "soup")
    intent = rig.match("pause the soup timer")
    assert intent.name == "timer.pause" and intent.data == {"name": "soup"}
    assert rig.matcher.vocabulary.timers == ("soup",)


def test_slot_lists_come_from_the_configuration(rig: Rig) -> None:
    vocabulary = rig.matcher.vocabulary
    assert {d.name for d in vocabulary.devices} == {d.name for d in DEVICES}
    assert next(d for d in vocabulary.devices if d.name == "stove light").aliases == ("cooker light",)
    assert {d.domain for d in vocabulary.devices} == {"light", "fan", "switch"}
    assert set(vocabulary.areas) == {"hallway", "kitchen", "attic", "den"}
    assert ("groceries", "shopping") in vocabulary.lists and ("to do", "to-do") in vocabulary.lists
    rig.matcher.set_devices([HomeDevice(name="porch light", area="porch", command_topic="home/porch")])
    assert [d.name for d in rig.matcher.vocabulary.devices] == ["porch light"]
    assert rig.matcher.recognize("turn on the hall lamp") is None


def test_without_devices_home_sentences_are_left_to_others(tmp_path: Path) -> None:
    skills = Skills(SkillStore(tmp_path / FILENAME), tz=LONDON, now=lambda: NOW).open()
    matcher = SentenceMatcher(
        SentenceLibrary("en", with_home=False), Ports(skills=SkillContext(skills, SkillsSettings()))
    )
    assert matcher.match("turn off all the lights") is None
    assert matcher.match("what time is it") is not None
    assert SentenceMatcher(SentenceLibrary("en"), Ports()).match("set a timer for two minutes") is None  # no skills
    skills.close()


def test_broadcast_goes_through_the_rooms_hook(rig: Rig) -> None:
    intent = rig.match("tell everyone that the taxi is here")
    assert intent.name == "rooms.broadcast" and intent.speech == NO_ROOMS and intent.action is None
    assert intent.data == {"text": "the taxi is here", "area": ""}
    rig.ports.broadcast = rig.tell
    assert rig.say("broadcast that lunch is served") == "Okay, I told everyone."
    assert rig.told == [("lunch is served", "")]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "x" * 5000,
        "set a timer for ten minutes " * 200,
        "🙂🙂🙂",
        "今日は何曜日ですか",
        "Сколько времени",
        "!!!?",
        "12 34",
    ],
)
def test_bad_input_is_never_matched_and_never_raises(rig: Rig, text: str) -> None:
    assert rig.matcher.match(text) is None


def test_a_failing_mapping_costs_nothing_but_the_match(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(ports: Ports, found: object) -> Intent:
        raise RuntimeError("boom")

    monkeypatch.setitem(mapping.MAPPERS, "HassGetCurrentTime", broken)  # type: ignore[index]
    assert rig.matcher.match("what time is it") is None


def test_language_is_checked_and_keyed(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        settings_from_dict({"understanding": {"language": "klingon"}})
    assert err.value.code == "config-value"
    assert "language = 'klingon'" in err.value.message and "en, " in err.value.message
    with pytest.raises(ConfigError, match=r"available: .*de"):
        SentenceLibrary("xx")
    assert {"en", "de", "fr"} <= set(languages())
    german = SentenceMatcher(SentenceLibrary("de", with_home=False), Ports(skills=_context(tmp_path)))
    assert german.match("Wie spät ist es?") is not None and german.match("Wie spät ist es?").name == "clock.time"  # type: ignore[union-attr]
    assert german.match("what time is it") is None


def _context(path: Path) -> SkillContext:
    return SkillContext(Skills(SkillStore(path / FILENAME), tz=LONDON, now=lambda: NOW), SkillsSettings())


def test_the_feature_puts_the_matcher_first_and_reloads_devices(tmp_path: Path, rig: Rig) -> None:
    settings = settings_from_dict(
        {"mqtt": {"devices": [{"name": "hall lamp", "area": "hallway", "command_topic": "home/hall"}]}}
    )
    feature = UnderstandingFeature(settings, skills=rig.context, home=rig.home)
    assert list(feature.intents()) == [feature.matcher]
    assert feature.status() == {
        "sentences": True, "language": "en", "intents": len(feature.library.intents.intents), "devices": 1,
        "areas": 1, "broadcast": False,
    }  # fmt: skip
    more = settings_from_dict(
        {
            "mqtt": {
                "devices": [{"name": "hall lamp", "command_topic": "a"}, {"name": "desk lamp", "command_topic": "b"}]
            }
        }
    )
    assert feature.apply(more) == ["understanding"]
    assert len(feature.matcher.vocabulary.devices) == 2
    assert feature.apply(settings_from_dict({"understanding": {"language": "de"}})) == []  # a new language: restart
    off = UnderstandingFeature(settings_from_dict({"understanding": {"sentences": False}}), skills=None, home=None)
    assert list(off.intents()) == []
